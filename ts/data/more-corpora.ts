/**
 * Readers for EmoDB, CREMA-D and a generic CSV/JSONL manifest. Like the readers in corpora.ts they read names and
 * metadata only. Corpora without recording sessions get LOSO sessions by pairing speakers (see `pairSpeakers`), so
 * that every fold has a partner speaker to validate on, as IEMOCAP's sessions give.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { arrayOf, object, optional, path as pathCheck, string } from '../validate.js';
import { corpusError, reading, type Utterance } from './corpora.js';

const EMOTION_OPTIONS = object<{ emotions?: string[] }>({ emotions: optional(arrayOf(string())) });

/** EmoDB's emotion letters (German initials) → English names. */
export const EMODB_EMOTIONS: Record<string, string> = {
  W: 'angry',
  L: 'bored',
  E: 'disgust',
  A: 'fearful',
  F: 'happy',
  T: 'sad',
  N: 'neutral',
};

/** EmoDB's ten speakers: five male, five female (from the corpus documentation). */
const EMODB_MALE = new Set(['03', '10', '11', '12', '15']);

/**
 * Pairs speakers into LOSO sessions: speakers sorted by id, males and females interleaved when genders are known
 * (so a session holds one of each, like IEMOCAP's), consecutive pairs form a session, and an odd one out joins
 * the last session.
 */
export function pairSpeakers(speakers: { id: string; gender?: 'female' | 'male' }[]): Map<string, string> {
  const sorted = [...speakers].sort((a, b) => a.id.localeCompare(b.id));
  const males = sorted.filter((s) => s.gender === 'male');
  const females = sorted.filter((s) => s.gender === 'female');
  const order: string[] = [];
  if (males.length > 0 && females.length > 0 && males.length + females.length === sorted.length) {
    for (let i = 0; i < Math.max(males.length, females.length); i++) {
      if (males[i]) order.push(males[i]!.id);
      if (females[i]) order.push(females[i]!.id);
    }
  } else {
    order.push(...sorted.map((s) => s.id));
  }
  const sessions = new Map<string, string>();
  const count = Math.max(1, Math.floor(order.length / 2));
  for (const [i, id] of order.entries()) sessions.set(id, `s${String(Math.min(Math.floor(i / 2), count - 1) + 1).padStart(2, '0')}`);
  return sessions;
}

function audioIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => ['.wav', '.flac'].includes(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * EmoDB (Berlin Database of Emotional Speech): `wav/SSTTTEV.wav`, e.g. `03a01Fa.wav` — speaker 03, text a01,
 * emotion F (Freude: happy), version a. Sessions pair one male and one female speaker (5 sessions, 10 folds).
 */
export function readEmodb(root: string, options: { emotions?: string[] } = {}): Utterance[] {
  pathCheck(root, 'root');
  EMOTION_OPTIONS(options, 'options');
  return reading(() => emodb(root, options));
}

function emodb(root: string, options: { emotions?: string[] }): Utterance[] {
  const dir = existsSync(join(root, 'wav')) ? join(root, 'wav') : root;
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw corpusError(`EmoDB: expected a folder at ${root} holding wav/, found none. Point it at the EmoDB folder.`);
  const raw: Omit<Utterance, 'session'>[] = [];
  for (const path of audioIn(dir)) {
    const id = basename(path, extname(path));
    const m = /^(\d\d)([a-b]\d\d)([WLEAFTN])([a-z])$/.exec(id);
    if (!m)
      throw corpusError(`EmoDB: ${path}: expected a name like 03a01Fa.wav (speaker, text, emotion letter W/L/E/A/F/T/N, version). Rename or remove the file.`);
    const emotion = EMODB_EMOTIONS[m[3]!]!;
    raw.push({ corpus: 'emodb', path, id, speaker: `emodb${m[1]}`, gender: EMODB_MALE.has(m[1]!) ? 'male' : 'female', emotion });
  }
  if (raw.length === 0) throw corpusError(`EmoDB: expected files like 03a01Fa.wav in ${dir}, found none.`);
  return withPairedSessions(raw, options.emotions);
}

/** CREMA-D's emotion codes. */
export const CREMAD_EMOTIONS: Record<string, string> = { ANG: 'angry', DIS: 'disgust', FEA: 'fearful', HAP: 'happy', NEU: 'neutral', SAD: 'sad' };

/**
 * CREMA-D: `AudioWAV/AAAA_SSS_EEE_II.wav`, e.g. `1001_DFA_ANG_XX.wav` — actor 1001, sentence DFA, emotion ANG,
 * intensity XX. Genders come from `VideoDemographics.csv` (ActorID, Age, Sex, …) when it is there; sessions pair
 * actors (one male, one female where genders are known).
 */
export function readCremaD(root: string, options: { emotions?: string[] } = {}): Utterance[] {
  pathCheck(root, 'root');
  EMOTION_OPTIONS(options, 'options');
  return reading(() => cremaD(root, options));
}

function cremaD(root: string, options: { emotions?: string[] }): Utterance[] {
  const dir = existsSync(join(root, 'AudioWAV')) ? join(root, 'AudioWAV') : root;
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw corpusError(`CREMA-D: expected a folder at ${root} holding AudioWAV/, found none. Point it at the CREMA-D folder.`);
  const genders = new Map<string, 'female' | 'male'>();
  const demo = join(root, 'VideoDemographics.csv');
  if (existsSync(demo)) {
    const rows = parseCsv(readFileSync(demo, 'utf8'), demo);
    for (const r of rows) {
      const sex = (r.Sex ?? '').toLowerCase();
      if (r.ActorID && (sex === 'male' || sex === 'female')) genders.set(r.ActorID, sex);
    }
  }
  const raw: Omit<Utterance, 'session'>[] = [];
  for (const path of audioIn(dir)) {
    const id = basename(path, extname(path));
    const m = /^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$/.exec(id);
    const emotion = m ? CREMAD_EMOTIONS[m[3]!] : undefined;
    if (!m || !emotion)
      throw corpusError(
        `CREMA-D: ${path}: expected a name like 1001_DFA_ANG_XX.wav (actor, sentence, emotion ANG/DIS/FEA/HAP/NEU/SAD, intensity). Rename or remove the file.`,
      );
    raw.push({ corpus: 'crema-d', path, id, speaker: `cremad${m[1]}`, gender: genders.get(m[1]!), emotion });
  }
  if (raw.length === 0) throw corpusError(`CREMA-D: expected files like 1001_DFA_ANG_XX.wav in ${dir}, found none.`);
  return withPairedSessions(raw, options.emotions);
}

/** Sessions come from every speaker of the corpus, so they do not change with the emotions kept. */
function withPairedSessions(raw: Omit<Utterance, 'session'>[], emotions?: string[]): Utterance[] {
  const speakers = new Map<string, 'female' | 'male' | undefined>();
  for (const u of raw) speakers.set(u.speaker, u.gender);
  const sessions = pairSpeakers([...speakers].map(([id, gender]) => ({ id, gender })));
  return raw.filter((u) => !emotions || emotions.includes(u.emotion)).map((u) => ({ ...u, session: sessions.get(u.speaker)! }));
}

/** Minimal RFC 4180 CSV: a header row, quoted fields with "" escapes, commas and newlines inside quotes. */
export function parseCsv(text: string, file: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
    } else field += ch;
  }
  if (quoted) throw corpusError(`${file}: a quoted field is not closed. Fix the CSV.`);
  row.push(field);
  if (row.length > 1 || row[0] !== '') rows.push(row);
  const [header, ...body] = rows;
  if (!header) throw corpusError(`${file}: expected a header row, found an empty file.`);
  return body.map((r, i) => {
    if (r.length !== header.length)
      throw corpusError(`${file}: line ${i + 2}: expected ${header.length} fields like the header (${header.join(',')}), found ${r.length}.`);
    return Object.fromEntries(header.map((h, j) => [h.trim(), r[j]!]));
  });
}

/**
 * A manifest of your own corpus: CSV with a header, or JSON Lines (one object per line), with fields `path`
 * (relative paths are resolved against the manifest's folder), `label`, `speaker`, and optional `session`, `id`,
 * `gender` ("female" | "male"). Without sessions, speakers are paired into sessions as for EmoDB. Every problem
 * is reported at once (line numbers, missing files, duplicate ids, a speaker in two sessions).
 */
export function readManifest(file: string, options: { emotions?: string[] } = {}): Utterance[] {
  pathCheck(file, 'file');
  EMOTION_OPTIONS(options, 'options');
  return reading(() => manifest(file, options));
}

function manifest(file: string, options: { emotions?: string[] }): Utterance[] {
  if (!existsSync(file) || !statSync(file).isFile())
    throw corpusError(`manifest: expected a CSV or JSONL file at ${file}, found none. Point corpus.path at it.`);
  const text = readFileSync(file, 'utf8');
  const ext = extname(file).toLowerCase();
  let records: Record<string, unknown>[];
  if (ext === '.jsonl' || ext === '.ndjson') {
    records = [];
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        throw corpusError(`manifest ${file}: line ${i + 1}: expected a JSON object, found ${JSON.stringify(line.slice(0, 60))}.`);
      }
    });
  } else if (ext === '.csv') {
    records = parseCsv(text, file);
  } else {
    throw corpusError(`manifest ${file}: expected a .csv or .jsonl file, found ${ext || 'no extension'}.`);
  }
  const problems: string[] = [];
  const base = dirname(resolve(file));
  const seen = new Map<string, number>();
  const sessionOf = new Map<string, string>();
  const raw: (Omit<Utterance, 'session'> & { session?: string })[] = [];
  records.forEach((r, i) => {
    const where = `line ${ext === '.csv' ? i + 2 : i + 1}`;
    const str = (k: string) => (typeof r[k] === 'string' || typeof r[k] === 'number' ? String(r[k]).trim() : '');
    const [path, label, speaker] = [str('path'), str('label'), str('speaker')];
    for (const [k, v] of [
      ['path', path],
      ['label', label],
      ['speaker', speaker],
    ] as const)
      if (!v) problems.push(`${where}: expected a non-empty "${k}", found ${JSON.stringify(r[k] ?? null)}`);
    if (!path || !label || !speaker) return;
    const abs = isAbsolute(path) ? path : resolve(base, path);
    if (!existsSync(abs)) problems.push(`${where}: ${abs} does not exist`);
    else if (!statSync(abs).isFile()) problems.push(`${where}: ${abs} is not a regular file`);
    const id = str('id') || basename(path, extname(path));
    if (seen.has(id)) problems.push(`${where}: duplicate id ${JSON.stringify(id)} (first on line ${seen.get(id)}); give rows distinct "id" values`);
    else seen.set(id, ext === '.csv' ? i + 2 : i + 1);
    const gender = str('gender').toLowerCase();
    if (gender && gender !== 'female' && gender !== 'male') problems.push(`${where}: expected gender "female" or "male", found ${JSON.stringify(gender)}`);
    const session = str('session') || undefined;
    if (session) {
      const before = sessionOf.get(speaker);
      if (before && before !== session)
        problems.push(`${where}: speaker ${speaker} is in session ${session} here and in ${before} before; a speaker belongs to one session`);
      sessionOf.set(speaker, session);
    }
    raw.push({ corpus: 'manifest', path: abs, id, speaker, gender: (gender || undefined) as Utterance['gender'], emotion: label, session });
  });
  const withSession = raw.filter((u) => u.session !== undefined).length;
  if (withSession !== 0 && withSession !== raw.length)
    problems.push(`"session" is given on ${withSession} of ${raw.length} rows; give it on every row or on none`);
  if (problems.length > 0)
    throw corpusError(
      `manifest ${file}: ${problems.length} problem(s):\n  ${problems.slice(0, 50).join('\n  ')}${problems.length > 50 ? `\n  … and ${problems.length - 50} more` : ''}`,
    );
  const kept =
    withSession === raw.length
      ? (raw as Utterance[]).filter((u) => !options.emotions || options.emotions.includes(u.emotion))
      : withPairedSessions(raw, options.emotions);
  if (kept.length === 0)
    throw corpusError(`manifest ${file}: expected at least one row${options.emotions ? ` with a label in ${options.emotions.join(', ')}` : ''}, found none.`);
  return kept;
}
