/**
 * The experiment config: one object (a JSON file for the CLI) whose defaults are the paper's protocol. `resolveConfig`
 * checks everything at once and reports each problem with its JSON path, what was expected and what was found;
 * unknown keys are errors. The `model` and `training` sections are handed to the native side, which checks them
 * field by field (its structs define them) when the first task starts.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EnhancerOptions } from '../enhance.js';
import type { ModelConfig, TrainConfig, Variant } from '../train.js';

export const VARIANTS: readonly Variant[] = ['baseline-c', 'baseline-n', 'baseline-e', 'trnet', 'trnet-no-low', 'trnet-no-high'];
export const CORPUS_READERS = ['iemocap', 'ravdess', 'emodb', 'crema-d', 'manifest'] as const;
export const NOISE_READERS = ['esc50', 'musan', 'folder'] as const;

export interface NoiseConfig {
  /** Name in reports (default: the reader's name). */
  name?: string;
  reader: (typeof NOISE_READERS)[number];
  path: string;
  /** ESC-50 folds to use (default: all present in meta/esc50.csv). */
  folds?: number[];
  /** Use at most this many clips (a seeded choice, whole source recordings kept together); default all. */
  limit?: number;
}

export interface ExperimentConfig {
  /** The run folder: resolved config, features, one folder per task, results and reports. */
  outDir: string;
  corpus: {
    reader: (typeof CORPUS_READERS)[number];
    path: string;
    /** Class names in label order (default: the paper's four: angry, happy, neutral, sad). */
    classes?: string[];
    /** Corpus label → class name (e.g. IEMOCAP's { exc: "happy" }); labels mapped to no class are dropped. */
    labelMap?: Record<string, string>;
    /** Keep only these speakers (a smaller run); default all. */
    speakers?: string[];
  };
  noise: {
    /** Used in training and testing (paper: ESC-50). */
    matched: NoiseConfig;
    /** Testing only (paper: MUSAN); null for none. */
    unmatched?: NoiseConfig | null;
    /**
     * "disjoint" (default): the matched clips are split by source recording into training and test clips, so no
     * test noise was heard in training. "shared": both draw from every clip, as the authors' code does.
     */
    split?: 'disjoint' | 'shared';
    /** Share of the matched environment's source recordings held out for testing (default 0.2). */
    testFraction?: number;
  };
  /** Default [20, 15, 10, 5, 0] dB. */
  snrsDb?: number[];
  folds?: {
    /** Only the folds whose test speaker is one of these (default: every leave-one-speaker-out fold). */
    testSpeakers?: string[];
    /** At most this many folds, in fold order (after `testSpeakers`). */
    limit?: number;
  };
  /** Default: all six. Baseline-c always runs, as the other variants' frozen reference. */
  variants?: Variant[];
  /** Training seeds; default [1, 2, 3]. */
  seeds?: number[];
  /** Seed of the noise draws (clips, SNRs, excerpts) and of the matched clip split; default 0. */
  dataSeed?: number;
  features?: {
    /** Default 500. */
    frames?: number;
    pad?: 'zero' | 'repeat';
    /** Kaldi fbank options (torchaudio names); default the paper's 80 bins, 25/10 ms. */
    fbank?: Record<string, unknown>;
    /** Feature-store root; default <outDir>/features. */
    storeDir?: string;
    /**
     * Multiplies the waveform just before the fbank (default 1: samples in [-1, 1]); the authors' code uses
     * int16-scaled samples (32768), which changes the cosine similarity of the SNR-aware module (eq. 1).
     */
    waveformScale?: number;
  };
  /**
   * How training items meet noise. "clean+noisy" (default; the paper's IEM + IEM-ESC): every utterance clean and
   * once noisy at an SNR drawn from snrsDb. "authors": one item per utterance whose condition is drawn from
   * {clean, ...snrsDb}, as the authors' code does.
   */
  trainingNoise?: 'clean+noisy' | 'authors';
  /** The frozen SE front end; default the weight-free classical enhancer (CMGAN weights are not public). */
  enhancer?: EnhancerOptions;
  /** Model settings except `variant` and `numClasses` (set per task and from `corpus.classes`). */
  model?: Omit<ModelConfig, 'variant' | 'numClasses'>;
  /** Training settings (paper: 80 epochs, batch 32, Adam 1e-3); `seed` and `device` are set per task. */
  training?: Omit<TrainConfig, 'seed' | 'device'>;
  /** "cpu" (default) | "cuda" | "cuda:N" | "auto". */
  device?: string;
  /**
   * Tasks that train at once on the device (default 1): a small model leaves a GPU mostly idle, and each task's
   * kernels are launched by its own thread. Results do not change; may differ between reruns of one folder.
   */
  tasksPerDevice?: number;
}

export type ResolvedConfig = Required<Omit<ExperimentConfig, 'noise' | 'folds' | 'features'>> & {
  noise: {
    matched: Required<Omit<NoiseConfig, 'folds' | 'limit'>> & Pick<NoiseConfig, 'folds' | 'limit'>;
    unmatched: (Required<Omit<NoiseConfig, 'folds' | 'limit'>> & Pick<NoiseConfig, 'folds' | 'limit'>) | null;
    split: 'disjoint' | 'shared';
    testFraction: number;
  };
  folds: { testSpeakers: string[] | null; limit: number | null };
  features: { frames: number; pad: 'zero' | 'repeat'; fbank: Record<string, unknown>; storeDir: string; waveformScale: number };
  corpus: ExperimentConfig['corpus'] & { classes: string[]; labelMap: Record<string, string> };
};

export const PAPER_CLASSES = ['angry', 'happy', 'neutral', 'sad'];
export const PAPER_SNRS = [20, 15, 10, 5, 0];

export class ConfigError extends Error {
  readonly code = 'TRNET_INVALID_CONFIG';
  constructor(readonly problems: string[]) {
    super(`the experiment config has ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Json = unknown;
const kind = (v: Json) =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'string'
        ? `the string ${JSON.stringify(v)}`
        : typeof v === 'object'
          ? 'an object'
          : `${typeof v} ${String(v)}`;

/** Collects problems as "path: expected …, found …". */
class Checker {
  problems: string[] = [];
  add(path: string, expected: string, found: Json) {
    this.problems.push(`${path}: expected ${expected}, found ${kind(found)}`);
  }
  /** `keys` null: any keys (maps, and sections the native side checks field by field). */
  object(path: string, v: Json, keys: readonly string[] | null, required: readonly string[] = []): v is Record<string, Json> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.add(path, 'an object', v);
      return false;
    }
    if (keys) for (const k of Object.keys(v)) if (!keys.includes(k)) this.problems.push(`${path}.${k}: unknown key; expected one of ${keys.join(', ')}`);
    for (const k of required) if ((v as Record<string, Json>)[k] === undefined) this.problems.push(`${path}.${k}: required, found nothing`);
    return true;
  }
  string(path: string, v: Json, options?: readonly string[]): v is string {
    if (typeof v !== 'string' || v === '') this.add(path, options ? `one of ${options.join(', ')}` : 'a non-empty string', v);
    else if (options && !options.includes(v)) this.add(path, `one of ${options.join(', ')}`, v);
    else return true;
    return false;
  }
  number(path: string, v: Json, min: number, max: number, integer = false): v is number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      this.add(path, `${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`, v);
      return false;
    }
    return true;
  }
  array(path: string, v: Json, item: (p: string, x: Json) => boolean, nonEmpty = true): v is Json[] {
    if (!Array.isArray(v) || (nonEmpty && v.length === 0)) {
      this.add(path, nonEmpty ? 'a non-empty array' : 'an array', v);
      return false;
    }
    let ok = true;
    v.forEach((x, i) => {
      ok = item(`${path}[${i}]`, x) && ok;
    });
    return ok;
  }
  folder(path: string, v: Json): void {
    if (this.string(path, v) && !(existsSync(v) && statSync(v).isDirectory())) this.problems.push(`${path}: no such folder ${resolve(v)}`);
  }
  fileOrFolder(path: string, v: Json): void {
    if (this.string(path, v) && !existsSync(v)) this.problems.push(`${path}: no such file or folder ${resolve(v)}`);
  }
}

const TOP_KEYS = [
  'outDir',
  'corpus',
  'noise',
  'snrsDb',
  'folds',
  'variants',
  'seeds',
  'dataSeed',
  'features',
  'trainingNoise',
  'enhancer',
  'model',
  'training',
  'device',
  'tasksPerDevice',
] as const;
const NOISE_KEYS = ['name', 'reader', 'path', 'folds', 'limit'] as const;
const ENHANCER_KEYS = ['kind', 'model', 'card', 'cacheDir', 'intraThreads'] as const;

function checkNoise(c: Checker, path: string, v: Json): void {
  if (!c.object(path, v, NOISE_KEYS, ['reader', 'path'])) return;
  if (v.name !== undefined) c.string(`${path}.name`, v.name);
  c.string(`${path}.reader`, v.reader, NOISE_READERS);
  c.folder(`${path}.path`, v.path);
  if (v.folds !== undefined) {
    if (v.reader !== 'esc50') c.problems.push(`${path}.folds: only the esc50 reader has folds`);
    c.array(`${path}.folds`, v.folds, (p, x) => c.number(p, x, 1, 5, true));
  }
  if (v.limit !== undefined) c.number(`${path}.limit`, v.limit, 1, 1e7, true);
}

/** Checks `config` and fills in the paper's defaults; throws a ConfigError listing every problem. */
export function resolveConfig(config: Json): ResolvedConfig {
  const c = new Checker();
  if (!c.object('config', config, TOP_KEYS, ['outDir', 'corpus', 'noise'])) throw new ConfigError(c.problems);
  const v = config as Record<string, Json>;
  c.string('outDir', v.outDir);
  if (c.object('corpus', v.corpus, ['reader', 'path', 'classes', 'labelMap', 'speakers'], ['reader', 'path'])) {
    const corpus = v.corpus as Record<string, Json>;
    c.string('corpus.reader', corpus.reader, CORPUS_READERS);
    if (corpus.reader === 'manifest') {
      if (c.string('corpus.path', corpus.path) && !(existsSync(corpus.path as string) && statSync(corpus.path as string).isFile()))
        c.problems.push(`corpus.path: no such manifest file ${resolve(corpus.path as string)}`);
    } else c.folder('corpus.path', corpus.path);
    if (corpus.classes !== undefined && c.array('corpus.classes', corpus.classes, (p, x) => c.string(p, x))) {
      const classes = corpus.classes as string[];
      if (classes.length < 2) c.problems.push(`corpus.classes: expected at least 2 classes, found ${classes.length}`);
      if (new Set(classes).size !== classes.length) c.problems.push(`corpus.classes: expected distinct names, found ${JSON.stringify(classes)}`);
    }
    if (corpus.speakers !== undefined) c.array('corpus.speakers', corpus.speakers, (p, x) => c.string(p, x));
    if (corpus.labelMap !== undefined && c.object('corpus.labelMap', corpus.labelMap, null)) {
      const classes = (Array.isArray(corpus.classes) ? corpus.classes : PAPER_CLASSES) as string[];
      for (const [k, to] of Object.entries(corpus.labelMap as Record<string, Json>)) {
        if (c.string(`corpus.labelMap.${k}`, to) && !classes.includes(to))
          c.problems.push(`corpus.labelMap.${k}: expected one of the classes (${classes.join(', ')}), found ${JSON.stringify(to)}`);
      }
    }
  }
  if (c.object('noise', v.noise, ['matched', 'unmatched', 'split', 'testFraction'], ['matched'])) {
    const noise = v.noise as Record<string, Json>;
    checkNoise(c, 'noise.matched', noise.matched);
    if (noise.unmatched !== undefined && noise.unmatched !== null) checkNoise(c, 'noise.unmatched', noise.unmatched);
    if (noise.split !== undefined) c.string('noise.split', noise.split, ['disjoint', 'shared']);
    if (noise.testFraction !== undefined) c.number('noise.testFraction', noise.testFraction, 0.01, 0.99);
  }
  if (v.snrsDb !== undefined && c.array('snrsDb', v.snrsDb, (p, x) => c.number(p, x, -20, 60))) {
    if (new Set(v.snrsDb as number[]).size !== (v.snrsDb as number[]).length)
      c.problems.push(`snrsDb: expected distinct values, found ${JSON.stringify(v.snrsDb)}`);
  }
  if (v.folds !== undefined && c.object('folds', v.folds, ['testSpeakers', 'limit'])) {
    const folds = v.folds as Record<string, Json>;
    if (folds.testSpeakers !== undefined) c.array('folds.testSpeakers', folds.testSpeakers, (p, x) => c.string(p, x));
    if (folds.limit !== undefined) c.number('folds.limit', folds.limit, 1, 1e6, true);
  }
  if (v.variants !== undefined && c.array('variants', v.variants, (p, x) => c.string(p, x, VARIANTS))) {
    if (new Set(v.variants as string[]).size !== (v.variants as string[]).length)
      c.problems.push(`variants: expected distinct names, found ${JSON.stringify(v.variants)}`);
  }
  if (v.seeds !== undefined && c.array('seeds', v.seeds, (p, x) => c.number(p, x, 0, 2 ** 53 - 1, true))) {
    if (new Set(v.seeds as number[]).size !== (v.seeds as number[]).length) c.problems.push(`seeds: expected distinct seeds, found ${JSON.stringify(v.seeds)}`);
  }
  if (v.dataSeed !== undefined) c.number('dataSeed', v.dataSeed, 0, 2 ** 53 - 1, true);
  if (v.features !== undefined && c.object('features', v.features, ['frames', 'pad', 'fbank', 'storeDir', 'waveformScale'])) {
    const f = v.features as Record<string, Json>;
    if (f.frames !== undefined) c.number('features.frames', f.frames, 1, 100_000, true);
    if (f.pad !== undefined) c.string('features.pad', f.pad, ['zero', 'repeat']);
    if (f.fbank !== undefined) c.object('features.fbank', f.fbank, null);
    if (f.storeDir !== undefined) c.string('features.storeDir', f.storeDir);
    if (f.waveformScale !== undefined) c.number('features.waveformScale', f.waveformScale, 1e-6, 1e6);
  }
  if (v.trainingNoise !== undefined) c.string('trainingNoise', v.trainingNoise, ['clean+noisy', 'authors']);
  if (v.enhancer !== undefined && c.object('enhancer', v.enhancer, ENHANCER_KEYS)) {
    const e = v.enhancer as Record<string, Json>;
    if (e.kind !== undefined) c.string('enhancer.kind', e.kind, ['classical', 'gtcrn', 'cmgan', 'card']);
    if ((e.kind === 'gtcrn' || e.kind === 'cmgan') && e.model === undefined)
      c.problems.push(`enhancer.model: required for kind ${e.kind} (an ONNX file), found nothing`);
    if (e.model !== undefined) c.fileOrFolder('enhancer.model', e.model);
    if (e.card !== undefined) c.fileOrFolder('enhancer.card', e.card);
    if (e.intraThreads !== undefined) c.number('enhancer.intraThreads', e.intraThreads, 1, 256, true);
  }
  if (v.model !== undefined && c.object('model', v.model, null)) {
    for (const k of ['variant', 'numClasses'])
      if ((v.model as Record<string, Json>)[k] !== undefined) c.problems.push(`model.${k}: set by the experiment (from variants / corpus.classes); remove it`);
  }
  if (v.training !== undefined && c.object('training', v.training, null)) {
    for (const k of ['seed', 'device'])
      if ((v.training as Record<string, Json>)[k] !== undefined) c.problems.push(`training.${k}: set by the experiment (from seeds / device); remove it`);
    // The GPU settings, checked here too so that a typo fails before any feature is built (the native side checks
    // every training field again when a task starts).
    const t = v.training as Record<string, Json>;
    if (t.lossReadEvery !== undefined) c.number('training.lossReadEvery', t.lossReadEvery, 1, 100_000, true);
    if (t.adamUpdate !== undefined) c.string('training.adamUpdate', t.adamUpdate, ['per-tensor', 'flat']);
    if (t.mixedPrecisionDtype !== undefined) c.string('training.mixedPrecisionDtype', t.mixedPrecisionDtype, ['float16', 'bfloat16']);
    if (t.residentFeatures !== undefined && typeof t.residentFeatures !== 'boolean') c.add('training.residentFeatures', 'true or false', t.residentFeatures);
  }
  if (v.device !== undefined && c.string('device', v.device) && !/^(cpu|auto|cuda(:\d+)?)$/.test(v.device as string))
    c.add('device', '"cpu", "auto", "cuda" or "cuda:N"', v.device);
  if (v.tasksPerDevice !== undefined) c.number('tasksPerDevice', v.tasksPerDevice, 1, 64, true);
  if (c.problems.length > 0) throw new ConfigError(c.problems);

  const cfg = v as unknown as ExperimentConfig;
  const noiseDefaults = (n: NoiseConfig) => ({ ...n, name: n.name ?? n.reader, path: resolve(n.path) });
  const outDir = resolve(cfg.outDir);
  return {
    outDir,
    corpus: { ...cfg.corpus, path: resolve(cfg.corpus.path), classes: cfg.corpus.classes ?? PAPER_CLASSES, labelMap: cfg.corpus.labelMap ?? {} },
    noise: {
      matched: noiseDefaults(cfg.noise.matched),
      unmatched: cfg.noise.unmatched ? noiseDefaults(cfg.noise.unmatched) : null,
      split: cfg.noise.split ?? 'disjoint',
      testFraction: cfg.noise.testFraction ?? 0.2,
    },
    snrsDb: cfg.snrsDb ?? PAPER_SNRS,
    folds: { testSpeakers: cfg.folds?.testSpeakers ?? null, limit: cfg.folds?.limit ?? null },
    variants: cfg.variants ?? [...VARIANTS],
    seeds: cfg.seeds ?? [1, 2, 3],
    dataSeed: cfg.dataSeed ?? 0,
    features: {
      frames: cfg.features?.frames ?? 500,
      pad: cfg.features?.pad ?? 'zero',
      fbank: cfg.features?.fbank ?? { numMelBins: 80, frameLength: 25, frameShift: 10 },
      storeDir: resolve(cfg.features?.storeDir ?? resolve(outDir, 'features')),
      waveformScale: cfg.features?.waveformScale ?? 1,
    },
    trainingNoise: cfg.trainingNoise ?? 'clean+noisy',
    enhancer: cfg.enhancer ? { ...cfg.enhancer, ...(cfg.enhancer.model ? { model: resolve(cfg.enhancer.model) } : {}) } : { kind: 'classical' },
    model: cfg.model ?? {},
    training: cfg.training ?? {},
    device: cfg.device ?? 'cpu',
    tasksPerDevice: cfg.tasksPerDevice ?? 1,
  };
}

/** The differences between two resolved configs, as "path: before → after" lines (empty when equal). */
export function configChanges(before: Json, after: Json, path = ''): string[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const isObj = (x: Json) => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before as object), ...Object.keys(after as object)])].sort();
    return keys.flatMap((k) => configChanges((before as Record<string, Json>)[k], (after as Record<string, Json>)[k], path ? `${path}.${k}` : k));
  }
  return [`${path || 'config'}: ${JSON.stringify(before) ?? 'absent'} → ${JSON.stringify(after) ?? 'absent'}`];
}
