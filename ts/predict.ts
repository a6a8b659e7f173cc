/**
 * Predictions from raw audio with a trained model (issue 13): `await load(dir)` → `model.predict(input)`.
 *
 * The pipeline is the one the experiment's features were made with, step for step: decode (and resample) to
 * 16 kHz mono → cut to the samples the features use (as trnet_train::features does before enhancement) → the SE
 * front end the model was trained with → the fbank of the input and of the enhanced audio → native forward
 * (which fixes both to the trained frame count with the trained padding, then runs the evaluation forward pass).
 * Same audio, same numbers as the experiment's evaluation of the clean condition.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { decodeAudio, decodeAudioBytes } from './audio.js';
import { type EnhanceItem, type EnhancerOptions, enhancerInfo } from './enhance.js';
import { type FbankOptions, fbankBatch, PAPER_FBANK } from './features.js';
import { type Native, native } from './native.js';
import { arrayOf, callNative, codedError, Found, invalid, LOAD_OPTIONS, PREDICT_INPUT, path } from './validate.js';

export type ModelOutput = Native.ModelOutput;

/** The feature settings a model was trained with (an experiment's `features`). */
export interface PredictFeatures {
  frames: number;
  pad?: 'zero' | 'repeat';
  /** Default PAPER_FBANK (80 bins, 25/10 ms). */
  fbank?: FbankOptions;
}

export interface LoadOptions {
  /** Class names in label order; default the experiment's corpus.classes. Required for a bare checkpoint folder. */
  classes?: string[];
  /** Default the experiment's features. Required for a bare checkpoint folder. */
  features?: PredictFeatures;
  /** The SE front end; default the experiment's. Required for a bare checkpoint folder. */
  enhancer?: EnhancerOptions;
  /** Load even when the SE model differs from the one recorded at training (predictions will not match it). */
  allowDifferentEnhancer?: boolean;
  /** "cpu" (default) | "cuda" | "cuda:N" | "auto". */
  device?: string;
}

/** Audio to predict on: a file path, the bytes of an encoded file (WAV/FLAC/OGG/MP3), or samples at a rate. */
export type PredictInput = string | Uint8Array | { samples: Float32Array; sampleRate: number };

export interface PredictResult {
  /** The most probable class (the first on ties). */
  label: string;
  /** Every class's probability, by name. */
  probabilities: Record<string, number>;
  /** The noise-level estimate c ∈ [0, 1]; null for variants without the SNR-aware module. */
  c: number | null;
}

/**
 * @internal Where one `predictBatch` spent its time, in milliseconds (bench/predict.ts): wall time, or the
 * process's CPU time (all threads) when `cpu`. `total` includes the rest.
 */
export interface StageTimes {
  decode: number;
  enhance: number;
  fbank: number;
  forward: number;
  total: number;
}

/** The file at an experiment's root that records the SE front end its features were made with. */
export const ENHANCER_RECORD_FILE = 'enhancer.json';

export interface EnhancerRecord {
  kind: string;
  /** The model file (absolute) and its SHA-256, for kinds with one. */
  model: string | null;
  modelSha256: string | null;
  name: string;
  fingerprint: string;
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** What identifies an SE front end: kind, model file and hash, and the native fingerprint (every setting). */
export function enhancerRecord(options: EnhancerOptions): EnhancerRecord {
  const { cacheDir: _cache, ...settings } = options;
  const info = enhancerInfo(settings);
  const model = options.model ? resolve(options.model) : null;
  return {
    kind: options.kind ?? 'classical',
    model,
    modelSha256: model && isFile(model) ? sha256File(model) : null,
    name: info.name,
    fingerprint: info.fingerprint,
  };
}

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
const isCheckpoint = (d: string) => isFile(join(d, 'config.json')) && isFile(join(d, 'model.safetensors'));

interface Located {
  checkpoint: string;
  /** The experiment folder above it (config.json + plan.json), if any. */
  experiment: string | null;
}

/** A checkpoint folder (`…/best`), a run folder (`…/run`) or an experiment task folder → the checkpoint and its experiment. */
function locate(dir: string): Located {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory())
    throw codedError(
      'TRNET_CHECKPOINT_NOT_FOUND',
      `model folder: expected a checkpoint, run or experiment task folder, found ${existsSync(abs) ? 'a file' : 'nothing'} at ${abs}. Point load() at a task folder (tasks/<fold>/seed-<n>/<variant>) or a checkpoint folder train() wrote (its best/).`,
    );
  const candidates = [abs, join(abs, 'best'), join(abs, 'run', 'best')];
  const checkpoint = candidates.find(isCheckpoint);
  if (!checkpoint) {
    if (isFile(join(abs, 'plan.json')))
      throw codedError(
        'TRNET_CHECKPOINT_NOT_FOUND',
        `model folder: expected one task's folder, found the experiment folder ${abs}, which holds many models. Pass one of its tasks, e.g. ${join(abs, 'tasks', '<fold>', 'seed-<n>', 'trnet')}.`,
      );
    throw codedError(
      'TRNET_CHECKPOINT_NOT_FOUND',
      `model folder: expected a checkpoint (config.json + model.safetensors) in ${abs}, its best/ or its run/best/, found none. Point load() at a task folder or a checkpoint folder train() wrote.`,
    );
  }
  // best → run → <variant> → seed-<n> → <fold> → tasks → experiment root: look up a few levels, not further.
  let up = dirname(checkpoint);
  for (let i = 0; i < 7; i++) {
    if (isFile(join(up, 'config.json')) && isFile(join(up, 'plan.json'))) return { checkpoint, experiment: up };
    const parent = dirname(up);
    if (parent === up) break;
    up = parent;
  }
  return { checkpoint, experiment: null };
}

interface ExperimentSettings {
  classes: string[];
  features: { frames: number; pad: 'zero' | 'repeat'; fbank: FbankOptions };
  enhancer: EnhancerOptions;
}

/** A JSON file of an experiment folder; unreadable JSON is TRNET_INVALID_CONFIG naming the file. */
function readJson<T>(file: string): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw codedError(
      'TRNET_INVALID_CONFIG',
      `${file}: expected JSON written by trnet, found a file that does not parse (${(err as Error).message}). Restore it from the experiment folder, or pass { classes, features, enhancer } with a checkpoint folder.`,
      err,
    );
  }
}

function readExperiment(root: string): ExperimentSettings {
  const cfg =
    readJson<{ corpus?: { classes?: string[] }; features?: ExperimentSettings['features']; enhancer?: EnhancerOptions } | null>(join(root, 'config.json')) ??
    {};
  if (!cfg.corpus?.classes || !cfg.features?.frames || !cfg.enhancer)
    throw codedError(
      'TRNET_INVALID_CONFIG',
      `${join(root, 'config.json')}: expected a resolved experiment config with corpus.classes, features and enhancer, found ${Object.keys(cfg).join(', ') || 'none of them'}. Pass { classes, features, enhancer } to load().`,
    );
  return { classes: cfg.corpus.classes, features: cfg.features, enhancer: cfg.enhancer };
}

/** Refuses an SE front end other than the one recorded at training (unless allowed). */
function checkEnhancer(root: string, enhancer: EnhancerOptions, allow: boolean): void {
  const file = join(root, ENHANCER_RECORD_FILE);
  if (allow || !isFile(file)) return;
  const recorded = readJson<EnhancerRecord>(file);
  const named = (r: { kind: string; model: string | null; modelSha256: string | null }) =>
    `${r.kind}${r.model ? ` ${r.model} (SHA-256 ${r.modelSha256 ?? 'unknown'})` : ''}`;
  const fix =
    'Restore the SE model the experiment was trained with, or pass { allowDifferentEnhancer: true } to predict with this one anyway (the predictions will not match the evaluation).';
  if (enhancer.model && !existsSync(enhancer.model)) {
    throw codedError(
      'TRNET_ENHANCER_MISMATCH',
      `SE front end: expected the one the model was trained with, ${named(recorded)}, found no file at ${resolve(enhancer.model)}. ${fix}`,
    );
  }
  let current: EnhancerRecord;
  try {
    current = enhancerRecord(enhancer);
  } catch (err) {
    throw codedError(
      'TRNET_ENHANCER_MISMATCH',
      `SE front end: expected the one the model was trained with, ${named(recorded)}, found one that does not load (${(err as Error).message}). ${fix}`,
      err,
    );
  }
  if (current.fingerprint !== recorded.fingerprint || current.modelSha256 !== recorded.modelSha256) {
    throw codedError(
      'TRNET_ENHANCER_MISMATCH',
      `SE front end: expected the one the model was trained with, ${named(recorded)} (fingerprint ${recorded.fingerprint}), found ${named(current)} (fingerprint ${current.fingerprint}). ${fix}`,
    );
  }
}

/** 32-bit float mono WAV bytes: lets the native decoder resample raw samples exactly as it resamples files. */
function floatWav(samples: Float32Array, rate: number): Buffer {
  const data = samples.length * 4;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(3, 20); // IEEE float
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 4, 28);
  b.writeUInt16LE(4, 32);
  b.writeUInt16LE(32, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).copy(b, 44);
  return b;
}

const RATE = 16_000;

/** The process's CPU time so far (every thread), in ms. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** 16 kHz mono samples of `input`; samples at another rate are first cut to what `kept` needs (plus a second). */
function decode(input: PredictInput, kept: number | null): Float32Array {
  if (typeof input === 'string') return decodeAudio(input).samples;
  if (input instanceof Uint8Array) return decodeAudioBytes(input, 'input').samples;
  if (input.sampleRate === RATE) return input.samples;
  const { samples, sampleRate } = input;
  const need = kept === null ? samples.length : Math.ceil((kept / RATE + 1) * sampleRate);
  return decodeAudioBytes(floatWav(need < samples.length ? samples.subarray(0, need) : samples, sampleRate), 'samples.wav', { targetRate: RATE }).samples;
}

/**
 * Samples the features can use: trnet_train::features::samples_kept. Training cut every utterance to this before
 * enhancement, so prediction cuts the same way: a whole-utterance SE model's output on the kept part can depend
 * on the rest (the classical enhancer's does not), and the cut bounds the memory of long inputs.
 */
function samplesKept(frames: number, fbank: FbankOptions): number | null {
  if (fbank.subtractMean) return null;
  const rate = fbank.sampleFrequency ?? RATE;
  const shift = Math.trunc(rate * (fbank.frameShift ?? 10) * 0.001);
  const window = Math.trunc(rate * (fbank.frameLength ?? 25) * 0.001);
  return (frames + 1) * shift + window;
}

/** A loaded model. Many predictions may run at once; `close()` frees it. */
export class Model {
  /** @internal */
  constructor(
    private readonly native: Native.NativeModel,
    readonly dir: string,
    readonly classes: readonly string[],
    readonly features: Readonly<{ frames: number; pad: 'zero' | 'repeat'; fbank: FbankOptions }>,
    readonly enhancer: Readonly<EnhancerOptions>,
  ) {}

  get variant(): string {
    return this.native.variant;
  }

  get closed(): boolean {
    return this.native.closed;
  }

  /** The label, every class's probability and c for one input. */
  async predict(input: PredictInput): Promise<PredictResult> {
    PREDICT_INPUT(input, 'input');
    const [p] = await this.run([input]);
    return p!;
  }

  /** `predict` for many inputs at once (one enhancement, fbank and forward batch). */
  async predictBatch(inputs: PredictInput[]): Promise<PredictResult[]> {
    arrayOf(PREDICT_INPUT, 100_000)(inputs, 'inputs');
    if (inputs.length === 0) return [];
    return this.run(inputs);
  }

  /** @internal `predictBatch` timed stage by stage (bench/predict.ts). */
  async profile(inputs: PredictInput[]): Promise<{ results: PredictResult[]; ms: StageTimes; cpu: StageTimes }> {
    arrayOf(PREDICT_INPUT, 100_000)(inputs, 'inputs');
    const zero = (): StageTimes => ({ decode: 0, enhance: 0, fbank: 0, forward: 0, total: 0 });
    const times = { ms: zero(), cpu: zero() };
    const [t0, c0] = [performance.now(), cpuNow()];
    const results = inputs.length === 0 ? [] : await this.run(inputs, times);
    times.ms.total = performance.now() - t0;
    times.cpu.total = cpuNow() - c0;
    return { results, ...times };
  }

  /** Frees the native model and its SE front end; later calls fail with TRNET_MODEL_CLOSED. */
  close(): void {
    this.native.close();
  }

  private async run(inputs: PredictInput[], times?: { ms: StageTimes; cpu: StageTimes }): Promise<PredictResult[]> {
    if (this.native.closed)
      throw codedError('TRNET_MODEL_CLOSED', `expected an open model, found one that was closed with close() (${this.dir}). Load it again with load(dir).`);
    // Stage clocks for profile(): add the wall and CPU time since the last mark to `stage`.
    let [mark, cpuMark] = times ? [performance.now(), cpuNow()] : [0, 0];
    const lap = (stage: keyof StageTimes) => {
      if (!times) return;
      const [now, cpu] = [performance.now(), cpuNow()];
      times.ms[stage] += now - mark;
      times.cpu[stage] += cpu - cpuMark;
      [mark, cpuMark] = [now, cpu];
    };
    const kept = samplesKept(this.features.frames, this.features.fbank);
    const waves = inputs.map((input) => {
      const w = decode(input, kept);
      return kept !== null && w.length > kept ? w.slice(0, kept) : w;
    });
    lap('decode');
    const needsXe = this.variant !== 'baseline-c' && this.variant !== 'baseline-n';
    let enhanced: Float32Array[] = [];
    if (needsXe) {
      // The model's own SE front end, loaded once with it (no ONNX session per call).
      const items = await (callNative(() => this.native.enhance(waves)) as Promise<EnhanceItem[]>);
      enhanced = items.map((item, i) => {
        if (item.samples) return item.samples;
        throw codedError(
          (item.error?.code as 'TRNET_ENHANCE_FAILED' | undefined) ?? 'TRNET_ENHANCE_FAILED',
          `input ${i}: the SE front end failed: ${item.error?.message ?? 'no output'}`,
        );
      });
    }
    lap('enhance');
    const feats = await fbankBatch([...waves, ...enhanced], this.features.fbank);
    lap('fbank');
    const matrix = (i: number) => {
      const f = feats[i]!;
      if (f.features) return f.features.data;
      throw codedError(
        (f.error?.code as 'TRNET_INVALID_ARGUMENT' | undefined) ?? 'TRNET_INVALID_ARGUMENT',
        `input ${i % inputs.length}: no features: ${f.error?.message ?? 'unknown error'}`,
      );
    };
    const batch = inputs.map((_, i) => ({ x: matrix(i), ...(needsXe ? { xe: matrix(inputs.length + i) } : {}) }));
    const outputs = await (callNative(() => this.native.predict(batch)) as Promise<ModelOutput[]>);
    lap('forward');
    return outputs.map((o) => {
      const probabilities: Record<string, number> = {};
      let best = 0;
      o.probabilities.forEach((p, k) => {
        probabilities[this.classes[k]!] = p;
        if (p > o.probabilities[best]!) best = k;
      });
      return { label: this.classes[best]!, probabilities, c: o.c ?? null };
    });
  }
}

/**
 * Loads a trained model: an experiment task folder (tasks/<fold>/seed-<n>/<variant>), its run folder, or a
 * checkpoint folder (`…/best`). Inside an experiment, classes, features and the SE front end come from the
 * experiment's config.json, and the SE front end must be the one recorded at training (TRNET_ENHANCER_MISMATCH
 * otherwise, unless `allowDifferentEnhancer`). A bare checkpoint folder needs `{ classes, features, enhancer }`.
 */
export async function load(dir: string, options: LoadOptions = {}): Promise<Model> {
  path(dir, 'dir');
  LOAD_OPTIONS(options, 'options');
  const where = locate(dir);
  const exp = where.experiment ? readExperiment(where.experiment) : null;
  const classes = options.classes ?? exp?.classes;
  const features = options.features ?? exp?.features;
  const enhancer = options.enhancer ?? exp?.enhancer;
  if (!classes || !features || !enhancer) {
    const missing = [!classes && 'classes', !features && 'features', !enhancer && 'enhancer'].filter(Boolean).join(', ');
    throw invalid(
      'options',
      `{ classes, features, enhancer } for a checkpoint outside an experiment folder (${where.checkpoint})`,
      options,
      `Pass ${missing} (the corpus classes, features.frames/pad/fbank and the SE front end it was trained with).`,
    );
  }
  // Predictions are not written into the experiment's enhancement cache.
  const { cacheDir: _cache, ...se } = enhancer;
  if (where.experiment) checkEnhancer(where.experiment, se, options.allowDifferentEnhancer === true);
  const fbank = features.fbank ?? PAPER_FBANK;
  const nativeModel = callNative(() =>
    native.NativeModel.load(where.checkpoint, {
      frames: features.frames,
      pad: features.pad ?? 'zero',
      ...(options.device ? { device: options.device } : {}),
      // Kept open for the model's life (variants that read Xe only).
      enhancer: se,
    }),
  );
  const bins = (fbank.numMelBins ?? 23) + (fbank.useEnergy ? 1 : 0);
  if (classes.length !== nativeModel.numClasses || bins !== nativeModel.nMels) {
    nativeModel.close();
    throw invalid(
      'options',
      `${nativeModel.numClasses} classes and an fbank of ${nativeModel.nMels} bins (what the model in ${where.checkpoint} has)`,
      new Found(`${classes.length} classes and ${bins} bins`),
      'Pass the classes and fbank options the model was trained with.',
    );
  }
  return new Model(
    nativeModel,
    where.checkpoint,
    Object.freeze([...classes]),
    Object.freeze({ frames: features.frames, pad: features.pad ?? 'zero', fbank }),
    Object.freeze(se),
  );
}
