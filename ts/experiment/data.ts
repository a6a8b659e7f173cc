/**
 * The experiment's data: the corpus read and labelled, the noise environments split (matched: training and test
 * clips; unmatched: test only), and the folds. Pure functions of the config, so every process that runs a task
 * (locally or on a cluster) sees the same lists.
 */

import { type Fold, losoFolds } from '../cv/loso.js';
import { corpusError, type NoiseClip, readEsc50, readIemocap, readMusanNoise, readNoiseFolder, readRavdess, type Utterance } from '../data/corpora.js';
import { readCremaD, readEmodb, readManifest } from '../data/more-corpora.js';
import type { ResolvedConfig } from './config.js';
import { ConfigError } from './config.js';

export interface LabelledUtterance extends Utterance {
  /** Class index in `corpus.classes`. */
  label: number;
}

export interface ExperimentData {
  utterances: LabelledUtterance[];
  folds: Fold[];
  matchedTrain: NoiseClip[];
  matchedTest: NoiseClip[];
  unmatched: NoiseClip[];
}

function readCorpus(cfg: ResolvedConfig): Utterance[] {
  const { reader, path } = cfg.corpus;
  switch (reader) {
    case 'ravdess':
      return readRavdess(path);
    case 'iemocap':
      // Every label, mapped below: the default map is the paper's (excited → happy).
      return readIemocap(path, {
        labels: {
          ang: 'angry',
          hap: 'happy',
          exc: 'happy',
          neu: 'neutral',
          sad: 'sad',
          fru: 'frustrated',
          sur: 'surprised',
          fea: 'fearful',
          dis: 'disgust',
          oth: 'other',
          xxx: 'xxx',
        },
      });
    case 'emodb':
      return readEmodb(path);
    case 'crema-d':
      return readCremaD(path);
    case 'manifest':
      return readManifest(path);
  }
}

function readNoise(n: NonNullable<ResolvedConfig['noise']['unmatched']>): NoiseClip[] {
  switch (n.reader) {
    case 'esc50':
      return readEsc50(n.path, n.folds ? { folds: n.folds } : {});
    case 'musan':
      return readMusanNoise(n.path);
    case 'folder':
      return readNoiseFolder(n.path, n.name);
  }
}

/** SplitMix64 over BigInt: seeded draws in [0, 1) that are the same on every machine. */
export function splitmix(seed: number): () => number {
  let state = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n + 0x632be59bd9b4e019n);
  return () => {
    state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
    let z = state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return Number((z ^ (z >> 31n)) >> 11n) / 2 ** 53;
  };
}

/** The k-th seeded draw of `seed` (independent of every other k). */
export function uniformAt(seed: number, k: number): number {
  return splitmix(seed * 1_000_003 + k)();
}

export function seededShuffle<T>(items: T[], seed: number): T[] {
  const next = splitmix(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Keeps at most `limit` clips, whole source recordings at a time, chosen by a seeded shuffle of the sources. */
function limitClips(clips: NoiseClip[], limit: number | undefined, seed: number): NoiseClip[] {
  if (!limit || clips.length <= limit) return clips;
  const sources = seededShuffle([...new Set(clips.map((c) => c.source))].sort(), seed);
  const keep = new Set<string>();
  let count = 0;
  for (const s of sources) {
    if (count >= limit) break;
    keep.add(s);
    count += clips.filter((c) => c.source === s).length;
  }
  return clips.filter((c) => keep.has(c.source));
}

/**
 * Splits the matched environment by source recording, so train and test clips never come from one recording.
 * Categories with at least two sources are split each on their own (every category on both sides); categories
 * with a single source (e.g. a folder of files, each its own category) are pooled and split together.
 */
export function splitMatched(clips: NoiseClip[], testFraction: number, seed: number): { train: NoiseClip[]; test: NoiseClip[] } {
  const byCategory = new Map<string, string[]>();
  for (const c of clips) {
    const cat = c.category ?? '';
    const list = byCategory.get(cat) ?? [];
    if (!list.includes(c.source)) list.push(c.source);
    byCategory.set(cat, list);
  }
  const groups = [...byCategory].sort(([a], [b]) => a.localeCompare(b)).map(([cat, sources]) => ({ cat, sources }));
  const pooled = { cat: '', sources: groups.filter((g) => g.sources.length < 2).flatMap((g) => g.sources) };
  const testSources = new Set<string>();
  for (const { cat, sources } of [...groups.filter((g) => g.sources.length >= 2), pooled]) {
    if (sources.length < 2) continue;
    const shuffled = seededShuffle([...sources].sort(), seed + cat.length);
    const n = Math.min(sources.length - 1, Math.max(1, Math.round(sources.length * testFraction)));
    for (const s of shuffled.slice(0, n)) testSources.add(s);
  }
  const train = clips.filter((c) => !testSources.has(c.source));
  const test = clips.filter((c) => testSources.has(c.source));
  if (train.length === 0 || test.length === 0)
    throw corpusError(
      `noise.matched: cannot split ${clips.length} clip(s) from ${new Set(clips.map((c) => c.source)).size} source recording(s) into disjoint training and test clips; add clips or set noise.split to "shared".`,
    );
  return { train, test };
}

export function loadExperimentData(cfg: ResolvedConfig): ExperimentData {
  const classes = cfg.corpus.classes;
  const problems: string[] = [];
  const utterances: LabelledUtterance[] = [];
  const ids = new Map<string, string>();
  const only = cfg.corpus.speakers ? new Set(cfg.corpus.speakers) : null;
  const corpus = readCorpus(cfg);
  if (only) {
    const known = new Set(corpus.map((u) => u.speaker));
    const unknown = [...only].filter((s) => !known.has(s));
    if (unknown.length > 0) problems.push(...unknown.map((s) => `corpus.speakers: no speaker ${JSON.stringify(s)} in ${cfg.corpus.path}`));
  }
  for (const u of corpus) {
    if (only && !only.has(u.speaker)) continue;
    const name = cfg.corpus.labelMap[u.emotion] ?? u.emotion;
    const label = classes.indexOf(name);
    if (label < 0) continue;
    const before = ids.get(u.id);
    if (before) problems.push(`corpus: duplicate utterance id ${u.id} (${before} and ${u.path}); ids name predictions and must be unique`);
    ids.set(u.id, u.path);
    utterances.push({ ...u, emotion: name, label });
  }
  for (const [i, name] of classes.entries())
    if (!utterances.some((u) => u.label === i))
      problems.push(`corpus.classes[${i}]: no utterance of class ${JSON.stringify(name)} in ${cfg.corpus.path}; check the class names and corpus.labelMap`);
  if (problems.length > 0) throw new ConfigError(problems);

  let folds = losoFolds(utterances);
  if (cfg.folds.testSpeakers) {
    const speakers = new Set(utterances.map((u) => u.speaker));
    const unknown = cfg.folds.testSpeakers.filter((s) => !speakers.has(s));
    if (unknown.length > 0)
      throw new ConfigError(
        unknown.map(
          (s) =>
            `folds.testSpeakers: no speaker ${JSON.stringify(s)} in the corpus (speakers: ${[...speakers].sort().slice(0, 12).join(', ')}${speakers.size > 12 ? ', …' : ''})`,
        ),
      );
    folds = folds.filter((f) => f.test.some((s) => cfg.folds.testSpeakers!.includes(s)));
  }
  if (cfg.folds.limit) folds = folds.slice(0, cfg.folds.limit);
  for (const f of folds) {
    const overlap = f.train.filter((s) => f.validation.includes(s) || f.test.includes(s));
    if (overlap.length > 0 || f.validation.some((s) => f.test.includes(s)))
      throw corpusError(`fold ${f.name}: speaker(s) ${overlap.join(', ')} in two partitions; every speaker must belong to one session.`);
  }

  const matched = limitClips(readNoise(cfg.noise.matched), cfg.noise.matched.limit, cfg.dataSeed);
  const split = cfg.noise.split === 'shared' ? { train: matched, test: matched } : splitMatched(matched, cfg.noise.testFraction, cfg.dataSeed);
  const unmatched = cfg.noise.unmatched ? limitClips(readNoise(cfg.noise.unmatched), cfg.noise.unmatched.limit, cfg.dataSeed + 1) : [];
  return { utterances, folds, matchedTrain: split.train, matchedTest: split.test, unmatched };
}
