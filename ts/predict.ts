/**
 * Predictions from raw audio with a trained model (issue 13): `await load(dir)` → `model.predict(input)`.
 *
 * The pipeline is the one the experiment's features were made with, step for step: decode (and resample) to
 * 16 kHz mono → cut to the samples the features use (as trnet_train::features does before enhancement) → the SE
 * front end the model was trained with → the fbank of the input and of the enhanced audio → native forward
 * (which fixes both to the trained frame count with the trained padding, then runs the evaluation forward pass).
 * Same audio, same numbers as the experiment's evaluation of the clean condition.
 *
 * `model.timeline(input)` runs the same pipeline along a long recording: decode and SE once for the whole file,
 * then, natively per window, the level (silent windows are marked, not classified), the fbank and the forward pass.
 * At most `threads` predictions of a model run natively at once; the others wait in call order.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type EnhancerOptions, enhancerInfo } from './enhance.js';
import { type FbankOptions, PAPER_FBANK } from './features.js';
import { type Native, native } from './native.js';
import { arrayOf, callNative, codedError, Found, invalid, LOAD_OPTIONS, PREDICT_INPUT, PREDICT_OPTIONS, path, TIMELINE_OPTIONS } from './validate.js';

export type ModelOutput = Native.ModelOutput;

/** The feature settings a model was trained with (an experiment's `features`). */
export interface PredictFeatures {
  frames: number;
  pad?: 'zero' | 'repeat';
  /** Default PAPER_FBANK (80 bins, 25/10 ms). */
  fbank?: FbankOptions;
  /** Factor on the waveform just before the fbank (the experiment's features.waveformScale); default 1. */
  waveformScale?: number;
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
  /**
   * Predictions (predict, predictBatch, timeline calls) of this model that run natively at once, each on one
   * native job thread; later calls wait in order without blocking the event loop. Default
   * DEFAULT_PREDICT_THREADS: min(4, the available cores).
   */
  threads?: number;
  /**
   * libtorch intra-op threads per forward pass (at::set_num_threads on each prediction job's thread); default:
   * libtorch's setting (the cores). 1 suits many small concurrent predictions: see docs/inference.md. The setting
   * is libtorch's, so libtorch work started later in the process inherits it.
   */
  intraOpThreads?: number;
  /**
   * Number format of the network's convolutions: 'fp32' (default) or 'bf16' (bfloat16 weights and activations in
   * the encoder, f32 elsewhere; about half the forward pass's time on a CPU with AVX-512 BF16, with probabilities
   * that differ from f32's by up to about 0.01: see docs/benchmarks.md). On a CPU without AVX-512 BF16, 'bf16' is
   * TRNET_DEVICE_UNAVAILABLE.
   */
  precision?: Precision;
}

/** Number format of a loaded model's convolutions (`LoadOptions.precision`). */
export type Precision = 'fp32' | 'bf16';

/** The default bound on a model's concurrent native predictions: min(4, the available cores). */
export const DEFAULT_PREDICT_THREADS = Math.max(1, Math.min(4, availableParallelism()));

/** Audio to predict on: a file path, the bytes of an encoded file (WAV/FLAC/OGG/MP3), or samples at a rate. */
export type PredictInput = string | Uint8Array | { samples: Float32Array; sampleRate: number };

export interface PredictResult {
  /** The most probable class (the first on ties). */
  label: string;
  /** Every class's probability, by name. */
  probabilities: Record<string, number>;
  /** The noise-level estimate c ∈ [0, 1]; null for variants without the SNR-aware module. */
  c: number | null;
  /**
   * With `{ embedding: true }`: the utterance's representation, what the classifier reads (h~ for TRNet and TRNet
   * w/o L_low, h otherwise; the vectors the report's t-SNE plots).
   */
  embedding?: Float32Array;
}

export interface PredictOptions {
  /** Also return each input's representation (`PredictResult.embedding`). Default false. */
  embedding?: boolean;
}

/** The two network inputs of one utterance as `predict` computes them (`Model.frames`). */
export interface ModelFrames {
  /** Log-Mel frames of the input audio, `frames × bins` row-major. */
  x: Float32Array;
  /** Log-Mel frames of the SE front end's output (same shape); null for variants that do not read it. */
  xe: Float32Array | null;
  /** Frames before padding or cutting to the model's `features.frames`. */
  frames: number;
  bins: number;
}

/** What `Model.exportOnnx` wrote. */
export interface OnnxExport {
  /** The absolute path of the .onnx file. */
  path: string;
  bytes: number;
  /** The graph's input names in order: `x` and/or `xe` (batch × frames × bins), `valid_frames` (batch). */
  inputs: string[];
  /** `probabilities` (batch × classes), and `c` (batch) for the variants with the SNR-aware module. */
  outputs: string[];
  /** The metadata entries trnet's TypeScript side added (the native side adds trnet.variant, trnet.fbank, …). */
  metadata: Record<string, string>;
}

/** The ONNX metadata a model's frames depend on besides the weights (see docs/inference.md). */
function onnxMetadata(model: Model): Record<string, string> {
  const { frames, pad, waveformScale } = model.features;
  return {
    'trnet.classes': JSON.stringify(model.classes),
    'trnet.features': JSON.stringify({
      sampleRate: RATE,
      frames,
      pad,
      waveformScale,
      samplesKept: model.samplesKept,
      bins: model.nMels,
    }),
    'trnet.enhancer': JSON.stringify(enhancerRecord(model.enhancer)),
    'trnet.pipeline':
      'decode to 16 kHz mono in [-1, 1]; cut to samplesKept samples (null: no cut); SE front end (trnet.enhancer) on the cut audio; ' +
      'multiply both waves by waveformScale; Kaldi fbank (trnet.fbank) of the input → x and of the SE output → xe; pad (zero: zeros, ' +
      'repeat: the frames again from the start) or cut to `frames` frames; valid_frames = min(frame count, frames).',
  };
}

/** Windows of a timeline (seconds) and the silence rule. */
export interface TimelineOptions {
  /** Window length in seconds; default the audio the model's frames read (features.frames · 10 ms + 35 ms). */
  window?: number;
  /** Seconds between window starts, at most the window; default the window (windows that touch, no overlap). */
  hop?: number;
  /** A window whose level is more than this many dB below the loudest window's is silent. Default 35. */
  silenceDb?: number;
  /** A window whose level is below this (dB re full scale) is silent whatever the loudest is. Default -60. */
  silenceFloorDb?: number;
}

/** A window of a timeline that is silent (by the rule of TimelineOptions): not classified. */
export interface SilentSegment {
  /** Seconds from the start of the audio. */
  start: number;
  end: number;
  /** Mean power of the window's input samples, dB re full scale (-Infinity for digital silence). */
  levelDb: number;
  silent: true;
}

/** A window of a timeline that was classified: predict's result for the window. */
export interface PredictedSegment extends PredictResult {
  start: number;
  end: number;
  levelDb: number;
  silent: false;
}

/** One window of a timeline, told apart by `silent`. */
export type TimelineSegment = SilentSegment | PredictedSegment;

export const TIMELINE_DEFAULTS = Object.freeze({ silenceDb: 35, silenceFloorDb: -60 });

/** At most `limit` tasks at once; the others wait in call order (a slot passes straight to the next waiter). */
class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
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
  features: { frames: number; pad: 'zero' | 'repeat'; fbank: FbankOptions; waveformScale?: number };
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

const RATE = 16_000;

/** The process's CPU time so far (every thread), in ms. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** `input` as the native model's jobs take it (they decode it: the event loop never does). */
function audioInput(input: PredictInput): Native.AudioInput {
  if (typeof input === 'string') return { path: input };
  if (input instanceof Uint8Array) return { bytes: Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength) };
  return { samples: input.samples, sampleRate: input.sampleRate };
}

/** A loaded model. Many predictions may run at once (at most `threads` natively); `close()` frees it. */
export class Model {
  private readonly limiter: Limiter;
  /**
   * Samples of 16 kHz input the model's frames read (null: all, with subtractMean). Training cut every utterance
   * to this before enhancement, so prediction cuts the same way: a whole-utterance SE model's output on the kept
   * part can depend on the rest, and the cut bounds the memory of long inputs. The native model computes it
   * (trnet_train::features::samples_kept_for), the one place the fact lives.
   */
  private readonly kept: number | null;

  /** Samples of the input the model reads (null: all); see `kept`. */
  get samplesKept(): number | null {
    return this.kept;
  }

  /** @internal */
  constructor(
    private readonly native: Native.NativeModel,
    readonly dir: string,
    readonly classes: readonly string[],
    readonly features: Readonly<{ frames: number; pad: 'zero' | 'repeat'; fbank: FbankOptions; waveformScale: number }>,
    readonly enhancer: Readonly<EnhancerOptions>,
    readonly threads: number = DEFAULT_PREDICT_THREADS,
  ) {
    this.limiter = new Limiter(threads);
    this.kept = callNative(() => native.samplesKept(features.fbank)) ?? null;
  }

  /**
   * Native prediction jobs of this model: running now and the most ever at once (never above `threads`).
   * For monitoring a service and for the test of the bound.
   */
  get jobs(): { active: number; peak: number; limit: number } {
    return { active: this.native.activeJobs, peak: this.native.peakJobs, limit: this.threads };
  }

  get variant(): string {
    return this.native.variant;
  }

  /** Number format of the network's convolutions (`LoadOptions.precision`). */
  get precision(): Precision {
    return this.native.precision as Precision;
  }

  get closed(): boolean {
    return this.native.closed;
  }

  /** Log-Mel bins per frame the network reads. */
  get nMels(): number {
    return this.native.nMels;
  }

  /** The label, every class's probability and c for one input. */
  async predict(input: PredictInput, options: PredictOptions = {}): Promise<PredictResult> {
    PREDICT_INPUT(input, 'input');
    PREDICT_OPTIONS(options, 'options');
    const [p] = await this.limiter.run(() => this.run([input], undefined, options.embedding === true));
    return p!;
  }

  /** `predict` for many inputs at once (one enhancement, fbank and forward batch). */
  async predictBatch(inputs: PredictInput[], options: PredictOptions = {}): Promise<PredictResult[]> {
    arrayOf(PREDICT_INPUT, 100_000)(inputs, 'inputs');
    PREDICT_OPTIONS(options, 'options');
    if (inputs.length === 0) return [];
    return this.limiter.run(() => this.run(inputs, undefined, options.embedding === true));
  }

  /**
   * Predictions along a long recording: one segment per window (`window` seconds every `hop`), silent windows
   * marked `{ silent: true }` instead of classified. The audio is decoded and enhanced once, whole; the level,
   * fbank and forward pass run natively per window. A window equals `predict` on the same cut of the input and
   * of the whole file's SE output; the last window ends at the end of the audio and may be shorter (padded as in
   * training). See docs/inference.md for the silence rule.
   */
  async timeline(input: PredictInput, options: TimelineOptions = {}): Promise<TimelineSegment[]> {
    PREDICT_INPUT(input, 'input');
    TIMELINE_OPTIONS(options, 'options');
    return this.limiter.run(async () => {
      this.checkOpen();
      const window = options.window === undefined ? (this.kept ?? 5 * RATE) : Math.round(options.window * RATE);
      const hop = options.hop === undefined ? window : Math.round(options.hop * RATE);
      const windows = await (callNative(() =>
        this.native.timeline(audioInput(input), {
          window,
          hop,
          silenceRelativeDb: options.silenceDb ?? TIMELINE_DEFAULTS.silenceDb,
          silenceFloorDb: options.silenceFloorDb ?? TIMELINE_DEFAULTS.silenceFloorDb,
          fbank: this.features.fbank,
          waveformScale: this.features.waveformScale,
        }),
      ) as Promise<Native.TimelineWindow[]>);
      return windows.map((w): TimelineSegment => {
        const base = { start: w.start / RATE, end: w.end / RATE, levelDb: w.levelDb };
        return w.output ? { ...base, silent: false, ...this.result(w.output) } : { ...base, silent: true };
      });
    });
  }

  /**
   * The log-Mel frames `predict` feeds the network for `input`, before they are padded or cut to
   * `features.frames`: `x` from the input audio, `xe` from the SE front end's output (variants that read it).
   * With these, the ONNX export (`exportOnnx`) gives predict's numbers in another runtime.
   */
  async frames(input: PredictInput): Promise<ModelFrames> {
    PREDICT_INPUT(input, 'input');
    this.checkOpen();
    const [f] = await (callNative(() => this.native.audioFrames([audioInput(input)], this.waveOptions(false))) as Promise<Native.ModelInput[]>);
    const bins = this.native.nMels;
    return { x: f!.x, xe: f!.xe ?? null, frames: f!.x.length / bins, bins };
  }

  /**
   * Writes the network as one ONNX graph to `out` (inputs `x`/`xe`/`valid_frames` → `probabilities`, `c`; see
   * docs/inference.md), with class names, feature settings and the SE front end in its metadata.
   */
  async exportOnnx(out: string): Promise<OnnxExport> {
    path(out, 'out');
    this.checkOpen();
    const file = resolve(out);
    const metadata = onnxMetadata(this);
    const written = await (callNative(() => this.native.exportOnnx(file, metadata, this.features.fbank)) as Promise<Native.OnnxWritten>);
    return { path: file, bytes: written.bytes, inputs: written.inputs, outputs: written.outputs, metadata };
  }

  /** @internal `predictBatch` timed stage by stage (bench/predict.ts). */
  async profile(inputs: PredictInput[]): Promise<{ results: PredictResult[]; ms: StageTimes; cpu: StageTimes }> {
    arrayOf(PREDICT_INPUT, 100_000)(inputs, 'inputs');
    const zero = (): StageTimes => ({ decode: 0, enhance: 0, fbank: 0, forward: 0, total: 0 });
    const [t0, c0] = [performance.now(), cpuNow()];
    const times: StageClock = { ms: zero(), cpu: zero() };
    const results = inputs.length === 0 ? [] : await this.run(inputs, times);
    times.ms.total = performance.now() - t0;
    times.cpu.total = cpuNow() - c0;
    return { results, ms: times.ms, cpu: times.cpu };
  }

  /** Frees the native model and its SE front end; later calls fail with TRNET_MODEL_CLOSED. */
  close(): void {
    this.native.close();
  }

  private async run(inputs: PredictInput[], times?: StageClock, embedding = false): Promise<PredictResult[]> {
    this.checkOpen();
    // Decoding, SE, fbank and forward pass in one native job (one hop; the event loop decodes nothing).
    const r = await (callNative(() => this.native.predictAudio(inputs.map(audioInput), this.waveOptions(embedding))) as Promise<Native.AudioPredictions>);
    if (times) {
      for (const stage of ['decode', 'enhance', 'fbank', 'forward'] as const) {
        times.ms[stage] += r.ms[stage];
        times.cpu[stage] += r.cpu[stage];
      }
    }
    return r.outputs.map((o) => this.result(o));
  }

  private checkOpen(): void {
    if (this.native.closed)
      throw codedError('TRNET_MODEL_CLOSED', `expected an open model, found one that was closed with close() (${this.dir}). Load it again with load(dir).`);
  }

  private result(o: ModelOutput): PredictResult {
    const probabilities: Record<string, number> = {};
    let best = 0;
    o.probabilities.forEach((p, k) => {
      probabilities[this.classes[k]!] = p;
      if (p > o.probabilities[best]!) best = k;
    });
    return { label: this.classes[best]!, probabilities, c: o.c ?? null, ...(o.embedding ? { embedding: o.embedding } : {}) };
  }

  private waveOptions(embeddings: boolean): Native.WaveOptions {
    return { fbank: this.features.fbank, waveformScale: this.features.waveformScale, embeddings };
  }
}

/** Stage times for `profile()`: wall and process CPU milliseconds. */
interface StageClock {
  ms: StageTimes;
  cpu: StageTimes;
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
      ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
      ...(options.precision ? { precision: options.precision } : {}),
      // Kept open for the model's life (variants that read Xe only).
      enhancer: se,
      threads: options.threads ?? DEFAULT_PREDICT_THREADS,
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
  try {
    return new Model(
      nativeModel,
      where.checkpoint,
      Object.freeze([...classes]),
      Object.freeze({ frames: features.frames, pad: features.pad ?? 'zero', fbank, waveformScale: features.waveformScale ?? 1 }),
      Object.freeze(se),
      options.threads ?? DEFAULT_PREDICT_THREADS,
    );
  } catch (err) {
    // Fbank options the native side refuses (samplesKept): free the weights before reporting it.
    nativeModel.close();
    throw err;
  }
}
