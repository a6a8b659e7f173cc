/**
 * Corpus readers: turn a corpus folder into a list of labelled utterances (speech) or noise clips. They read
 * names and metadata only — audio is decoded later, natively. Layout problems get a `TRNET_CORPUS` error that
 * says which file or folder, what was expected and how to fix it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { arrayOf, integer, invalid, object, optional, path as pathCheck, string } from '../validate.js';

export interface Utterance {
  corpus: string;
  path: string;
  /** Stable id (the file stem). */
  id: string;
  speaker: string;
  /** Speakers recorded together (IEMOCAP session; RAVDESS pair of consecutive actors) — the LOSO unit. */
  session: string;
  /** Unknown for corpora that do not say (CREMA-D without its demographics file, manifests without it). */
  gender?: 'female' | 'male';
  emotion: string;
}

export interface NoiseClip {
  corpus: string;
  path: string;
  id: string;
  /** The recording the clip was cut from: clips sharing it must stay on one side of a split. */
  source: string;
  category?: string;
}

const AUDIO = new Set(['.wav', '.flac', '.ogg', '.mp3']);

export function corpusError(message: string): Error {
  const err = new Error(message);
  (err as Error & { code: string }).code = 'TRNET_CORPUS';
  return err;
}

/** Runs a reader with its arguments checked and file system failures (a folder it may not list, a file that
 * vanished while it read) turned into TRNET_CORPUS errors naming the cause. */
export function reading<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
    if (typeof code === 'string' && code.startsWith('TRNET_')) throw err;
    const e = corpusError(`cannot read the corpus: ${err instanceof Error ? err.message : String(err)}. Check the folder and its permissions.`);
    (e as Error).cause = err;
    throw e;
  }
}

const stringRecord = (v: unknown, name: string) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(name, 'an object of label → class name', v, 'Pass e.g. { ang: "angry" }.');
  for (const [k, x] of Object.entries(v)) string()(x, `${name}.${k}`);
};

function requireDir(dir: string, what: string, fix: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw corpusError(`${what}: expected a folder at ${dir}, found none. ${fix}`);
}

function audioFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => AUDIO.has(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(dir, f));
}

/** RAVDESS emotion codes (third field of the file name). */
export const RAVDESS_EMOTIONS: Record<string, string> = {
  '01': 'neutral',
  '02': 'calm',
  '03': 'happy',
  '04': 'sad',
  '05': 'angry',
  '06': 'fearful',
  '07': 'disgust',
  '08': 'surprised',
};

/**
 * RAVDESS speech: `Actor_XX/MM-VV-EE-II-SS-RR-AA.(wav|flac)`. Odd actors are male, even female; a "session"
 * pairs actors 2k−1 and 2k, so LOSO folds look like IEMOCAP's (one male, one female per session).
 */
export function readRavdess(root: string, options: { emotions?: string[] } = {}): Utterance[] {
  pathCheck(root, 'root');
  object<{ emotions?: string[] }>({ emotions: optional(arrayOf(string())) })(options, 'options');
  return reading(() => ravdess(root, options));
}

function ravdess(root: string, options: { emotions?: string[] }): Utterance[] {
  requireDir(root, 'RAVDESS', 'Point it at the folder holding Actor_01 … Actor_24.');
  const actors = readdirSync(root)
    .filter((d) => /^Actor_\d\d$/.test(d))
    .sort();
  if (actors.length === 0) throw corpusError(`RAVDESS: expected Actor_XX folders in ${root}, found none. Point it at the folder that holds them.`);
  const out: Utterance[] = [];
  for (const actor of actors) {
    for (const path of audioFiles(join(root, actor))) {
      const id = basename(path, extname(path));
      const f = id.split('-');
      const emotion = RAVDESS_EMOTIONS[f[2] ?? ''];
      if (f.length !== 7 || !emotion || `Actor_${f[6]}` !== actor) {
        throw corpusError(
          `RAVDESS: ${path}: expected a name like 03-01-05-02-01-02-${actor.slice(6)} (7 two-digit fields, emotion 01–08, actor matching its folder). Rename or remove the file.`,
        );
      }
      if (options.emotions && !options.emotions.includes(emotion)) continue;
      const n = Number(f[6]);
      out.push({
        corpus: 'ravdess',
        path,
        id,
        speaker: actor,
        session: `pair${String(Math.ceil(n / 2)).padStart(2, '0')}`,
        gender: n % 2 === 1 ? 'male' : 'female',
        emotion,
      });
    }
  }
  return out;
}

/** IEMOCAP label → the paper's four classes (excited merged into happy); other labels are dropped. */
export const IEMOCAP_FOUR_CLASSES: Record<string, string> = { ang: 'angry', hap: 'happy', exc: 'happy', neu: 'neutral', sad: 'sad' };

/**
 * IEMOCAP (IEMOCAP_full_release): labels from `SessionN/dialog/EmoEvaluation/*.txt` lines
 * `[start - end]\tSes01F_impro01_F000\tneu\t[v, a, d]`, audio in `SessionN/sentences/wav/<dialog>/<id>.wav`.
 * The speaker is the session plus the gender letter of the utterance's own speaker (last field's first letter).
 */
export function readIemocap(root: string, options: { labels?: Record<string, string> } = {}): Utterance[] {
  pathCheck(root, 'root');
  object<{ labels?: Record<string, string> }>({ labels: optional(stringRecord) })(options, 'options');
  return reading(() => iemocap(root, options));
}

function iemocap(root: string, options: { labels?: Record<string, string> }): Utterance[] {
  requireDir(root, 'IEMOCAP', 'Point it at IEMOCAP_full_release (the folder holding Session1 … Session5).');
  const labels = options.labels ?? IEMOCAP_FOUR_CLASSES;
  const sessions = readdirSync(root)
    .filter((d) => /^Session\d$/.test(d))
    .sort();
  if (sessions.length === 0) throw corpusError(`IEMOCAP: expected Session1 … Session5 in ${root}, found none. Point it at IEMOCAP_full_release.`);
  const out: Utterance[] = [];
  for (const session of sessions) {
    const evalDir = join(root, session, 'dialog/EmoEvaluation');
    requireDir(evalDir, `IEMOCAP ${session}`, 'The release keeps labels in SessionN/dialog/EmoEvaluation/*.txt.');
    for (const file of readdirSync(evalDir)
      .filter((f) => f.endsWith('.txt'))
      .sort()) {
      for (const line of readFileSync(join(evalDir, file), 'utf8').split('\n')) {
        const m = /^\[[\d.]+ - [\d.]+\]\t(\S+)\t(\S+)\t/.exec(line);
        if (!m) continue;
        const [, id, label] = m as unknown as [string, string, string];
        const emotion = labels[label];
        if (!emotion) continue;
        const dialog = id.slice(0, id.lastIndexOf('_'));
        const path = join(root, session, 'sentences/wav', dialog, `${id}.wav`);
        if (!existsSync(path))
          throw corpusError(`IEMOCAP: ${join(evalDir, file)} labels ${id}, but ${path} does not exist. Restore the file or remove the corpus' partial copy.`);
        const who = id.slice(id.lastIndexOf('_') + 1, id.lastIndexOf('_') + 2);
        if (who !== 'F' && who !== 'M')
          throw corpusError(`IEMOCAP: ${id}: expected the last field to start with F or M (the speaker), found ${JSON.stringify(who)}.`);
        const sessionId = `Ses${session.slice(-1).padStart(2, '0')}`;
        out.push({ corpus: 'iemocap', path, id, speaker: `${sessionId}${who}`, session: sessionId, gender: who === 'F' ? 'female' : 'male', emotion });
      }
    }
  }
  return out;
}

/** ESC-50: `meta/esc50.csv` (filename, fold, target, category, esc10, src_file, take) and `audio/`. */
export function readEsc50(root: string, options: { folds?: number[] } = {}): NoiseClip[] {
  pathCheck(root, 'root');
  object<{ folds?: number[] }>({ folds: optional(arrayOf(integer(1, 5, 'ESC-50 has folds 1 to 5.'))) })(options, 'options');
  return reading(() => esc50(root, options));
}

function esc50(root: string, options: { folds?: number[] }): NoiseClip[] {
  const csv = join(root, 'meta/esc50.csv');
  if (!existsSync(csv)) throw corpusError(`ESC-50: expected ${csv}, found none. Point it at the ESC-50 folder (holding meta/ and audio/).`);
  const [header, ...rows] = readFileSync(csv, 'utf8').trim().split('\n');
  const cols = header!.split(',');
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw corpusError(`ESC-50: ${csv}: expected a "${name}" column, found ${header}.`);
    return i;
  };
  const [iFile, iFold, iCat, iSrc] = [at('filename'), at('fold'), at('category'), at('src_file')];
  const out: NoiseClip[] = [];
  for (const row of rows) {
    const c = row.split(',');
    const fold = Number(c[iFold]);
    if (options.folds && !options.folds.includes(fold)) continue;
    const stem = basename(c[iFile]!, extname(c[iFile]!));
    // Copies converted to FLAC keep the stem; take whichever exists.
    const path = ['.wav', '.flac'].map((e) => join(root, 'audio', stem + e)).find(existsSync);
    if (!path)
      throw corpusError(
        `ESC-50: ${csv} lists ${c[iFile]}, but neither audio/${stem}.wav nor .flac exists. Restrict folds to those present (e.g. { folds: [4] }).`,
      );
    out.push({ corpus: 'esc50', path, id: stem, source: `esc50:${c[iSrc]}`, category: c[iCat] });
  }
  return out;
}

/** MUSAN noise: `noise/<free-sound|sound-bible>/*.wav`; each file is its own source recording. */
export function readMusanNoise(root: string): NoiseClip[] {
  pathCheck(root, 'root');
  return reading(() => musanNoise(root));
}

function musanNoise(root: string): NoiseClip[] {
  const noise = join(root, 'noise');
  requireDir(noise, 'MUSAN', 'Point it at the musan folder (holding music/, noise/, speech/).');
  const out: NoiseClip[] = [];
  for (const sub of readdirSync(noise).sort()) {
    const dir = join(noise, sub);
    if (!statSync(dir).isDirectory()) continue;
    for (const path of audioFiles(dir)) {
      const id = basename(path, extname(path));
      out.push({ corpus: 'musan', path, id, source: `musan:${id}`, category: sub });
    }
  }
  if (out.length === 0) throw corpusError(`MUSAN: expected audio files under ${noise}/<subfolder>/, found none.`);
  return out;
}

/** Any folder of noise recordings (e.g. Speech Commands' _background_noise_): one source per file. */
export function readNoiseFolder(root: string, corpus?: string): NoiseClip[] {
  pathCheck(root, 'root');
  optional(string())(corpus, 'corpus');
  return reading(() => noiseFolder(root, corpus ?? basename(root)));
}

function noiseFolder(root: string, corpus: string): NoiseClip[] {
  requireDir(root, 'noise folder', 'Point it at a folder of audio files.');
  const files = audioFiles(root);
  if (files.length === 0) throw corpusError(`noise folder ${root}: expected .wav/.flac/.ogg/.mp3 files, found none.`);
  return files.map((path) => {
    const id = basename(path, extname(path));
    return { corpus, path, id, source: `${corpus}:${id}`, category: id };
  });
}
