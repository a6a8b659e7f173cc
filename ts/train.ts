/**
 * Training and evaluation. Features are computed natively into a FeatureSet that stays in Rust memory or, with
 * the `store` option, in a feature store on disk that later calls reuse;
 * `train` runs a TRNet variant as a background job with progress and AbortSignal; `evaluate` scores a
 * checkpoint. Config objects are parsed by the Rust structs that define them (unknown fields are errors, absent
 * ones take the paper's defaults), so these interfaces only describe them.
 */
import { native, type Native } from './native.js';
import { runJob, type JobOptions } from './jobs.js';
import { EVALUATE_OPTIONS, FEATURE_SET_OPTIONS, RESUME_OPTIONS, SIGNAL_ONLY, TRAIN_OPTIONS, UTTERANCE_SPEC, arrayOf, callNative, disjointSpeakers, featureSet, integer, path, uniqueIds } from './validate.js';
import type { EnhancerOptions } from './enhance.js';
import type { FbankOptions } from './features.js';

export type FeatureSet = Native.FeatureSet;

// FeatureSet is the native class; its methods check their arguments here first, like every other export.
const nativeSubset = native.FeatureSet.prototype.subset;
const nativeClassCounts = native.FeatureSet.prototype.classCounts;
const nativeSpeakers = native.FeatureSet.prototype.speakers;
Object.defineProperty(native.FeatureSet.prototype, 'speakers', {
  value: function speakers(this: FeatureSet): string[] {
    featureSet(this, 'this');
    return callNative(() => nativeSpeakers.call(this));
  },
  writable: true,
  configurable: true,
});
Object.defineProperty(native.FeatureSet.prototype, 'subset', {
  value: function subset(this: FeatureSet, indices: number[]): FeatureSet {
    featureSet(this, 'this');
    arrayOf(integer(0, Math.max(0, this.length - 1), `Indices are item positions 0..${this.length - 1}.`))(indices, 'indices');
    return callNative(() => nativeSubset.call(this, indices));
  },
  writable: true,
  configurable: true,
});
Object.defineProperty(native.FeatureSet.prototype, 'classCounts', {
  value: function classCounts(this: FeatureSet, numClasses: number): number[] {
    featureSet(this, 'this');
    integer(1, 1 << 16, 'Pass the model’s number of classes, e.g. 4.')(numClasses, 'numClasses');
    return callNative(() => nativeClassCounts.call(this, numClasses));
  },
  writable: true,
  configurable: true,
});
export type Variant = 'baseline-c' | 'baseline-n' | 'baseline-e' | 'trnet' | 'trnet-no-low' | 'trnet-no-high';

/** crates/trnet-model/src/config.rs (ModelConfig); paper values are the defaults. */
export interface ModelConfig {
  variant: Variant;
  nMels?: number;
  channels?: number[];
  kernelSize?: number;
  stride?: number;
  convsPerBlock?: number;
  attentionHidden?: number | null;
  numClasses?: number;
  classifierInput?: 'calibrated' | 'raw';
  noLowEncoderInput?: 'enhanced' | 'mixed';
  alpha?: number;
  beta?: number;
  cosineEps?: number;
  bnEps?: number;
  bnMomentum?: number;
  headInit?: 'neutral' | 'torch-default';
}

/** crates/trnet-train/src/config.rs (TrainConfig); paper values are the defaults (80 epochs, batch 32, Adam 1e-3). */
export interface TrainConfig {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  adamEps?: number;
  weightDecay?: number;
  earlyStoppingPatience?: number | null;
  lrPlateau?: { factor?: number; patience?: number; threshold?: number; minLr?: number } | null;
  gradClipNorm?: number | null;
  seed?: number;
  device?: string;
  threads?: number | null;
  mixedPrecision?: boolean;
  prefetch?: number;
  evalBatchSize?: number | null;
}

export interface UtteranceSpec {
  path: string;
  /** Class index 0..numClasses−1. */
  label: number;
  speaker: string;
  id?: string;
}

export interface FeatureSetOptions {
  noises?: string[];
  noisy?: 'none' | 'one-per-utterance' | 'one-per-snr';
  includeClean?: boolean;
  snrsDb?: number[];
  seed?: number;
  frames?: number;
  pad?: 'zero' | 'repeat';
  fbank?: FbankOptions;
  enhancer?: EnhancerOptions;
  /**
   * Keep the features in a feature store on disk instead of in memory: a subfolder of `dir` named by a hash
   * of every input (files by path, size and mtime; options; seed; the enhancer's fingerprint). A later call
   * with the same inputs reopens it without computing anything (`set.cached`); batches read it on demand.
   */
  store?: { dir: string };
}

export interface FeaturesProgress {
  stage: 'features';
  done: number;
  total: number;
  /** Set on the single event of a build that found its feature store and computed nothing. */
  cached?: boolean;
}

export interface TrainProgress {
  stage: 'step' | 'epoch';
  /** Optimiser steps done / planned in the run. */
  done: number;
  total: number;
  epoch: number;
  lr: number;
  ce: number;
  loss: number;
  low?: number;
  high?: number;
  /** Epoch events only. */
  valUar?: number;
  valWar?: number;
  bestEpoch?: number;
  bestUar?: number;
}

export interface EpochRecord {
  epoch: number;
  train: { ce: number; low: number | null; high: number | null; total: number };
  val: { uar: number; war: number; ce: number };
  lr: number;
  improved: boolean;
  seconds: number;
}

export interface TrainReport {
  variant: Variant;
  best: { epoch: number; uar: number; war: number };
  epochsRun: number;
  stoppedEarly: boolean;
  globalSteps: number;
  finalLr: number;
  history: EpochRecord[];
  bestDir: string;
  lastDir: string;
  device: string;
  mixedPrecision: boolean;
  trainItems: number;
  valItems: number;
}

export interface EvalReport {
  uar: number;
  war: number;
  ce: number;
  confusion: number[][];
  recalls: (number | null)[];
  predictions: { item: number; id: string; label: number; predicted: number; probs: number[]; c: number | null }[];
}

export interface EvaluateProgress {
  stage: 'evaluate';
  done: number;
  total: number;
}

/** Decodes, mixes (seeded), enhances and computes fixed-length features for `utterances` on all cores. */
export async function buildFeatureSet(utterances: UtteranceSpec[], options: FeatureSetOptions = {}, job: JobOptions<FeaturesProgress> = {}): Promise<FeatureSet> {
  arrayOf(UTTERANCE_SPEC)(utterances, 'utterances');
  uniqueIds(utterances, 'utterances');
  FEATURE_SET_OPTIONS(options, 'options');
  return runJob<Native.Progress, FeaturesProgress, FeatureSet>(
    (onProgress, signal) => native.buildFeatureSet(utterances, options, onProgress, signal),
    (p) => ({ stage: 'features', done: p.done, total: p.total, ...(p.metrics?.cached ? { cached: true } : {}) }),
    job,
  );
}

/**
 * Reopens the feature store at `dir` (a set's `storePath`) after checking it is whole. Folds, variants and seeds
 * can share one store: `set.subset(indices)` selects items without copying features. Rejects with
 * TRNET_STORE_NOT_FOUND, TRNET_STORE_CORRUPT (truncated or altered: rebuild it) or TRNET_STORE_MISMATCH (another
 * format version).
 */
export async function openFeatureSet(dir: string, job: { signal?: AbortSignal } = {}): Promise<FeatureSet> {
  path(dir, 'dir');
  SIGNAL_ONLY(job, 'job');
  // No progress: opening reads the manifest and checks sizes, nothing per item.
  return runJob<Native.Progress, Native.Progress, FeatureSet>((_onProgress, signal) => native.openFeatureSet(dir, signal), (p) => p, { signal: job.signal });
}

function trainProgress(p: Native.Progress): TrainProgress {
  const m = p.metrics ?? {};
  return { stage: p.stage as 'step' | 'epoch', done: p.done, total: p.total, epoch: m.epoch ?? 0, lr: m.lr ?? 0, ce: m.ce ?? NaN, loss: m.loss ?? NaN, low: m.low, high: m.high, valUar: m.valUar, valWar: m.valWar, bestEpoch: m.bestEpoch, bestUar: m.bestUar };
}

export interface TrainOptions {
  modelConfig: ModelConfig;
  trainConfig?: TrainConfig;
  trainSet: FeatureSet;
  valSet: FeatureSet;
  /** Folder of a trained Baseline-c checkpoint (its `best`); TRNet and TRNet w/o L_low need it. */
  reference?: string;
  /** The run folder: best/, last/, configs and history are written there. Must not hold a run already. */
  outDir: string;
}

/** Trains a variant; the best epoch by validation UAR is kept in `outDir/best`. */
export async function train(options: TrainOptions, job: JobOptions<TrainProgress> = {}): Promise<TrainReport> {
  TRAIN_OPTIONS(options, 'options');
  disjointSpeakers(options.trainSet, options.valSet);
  const text = await runJob<Native.Progress, TrainProgress, string>(
    (onProgress, signal) => native.trainModel(options.trainConfig ?? {}, options.modelConfig, options.trainSet, options.valSet, options.reference, options.outDir, onProgress, signal),
    trainProgress,
    job,
  );
  return JSON.parse(text) as TrainReport;
}

/** Continues an interrupted run in `outDir` (after an abort or a crash) to the same result an uninterrupted run gives. */
export async function resumeTraining(options: Omit<TrainOptions, 'modelConfig'> & { modelConfig?: ModelConfig }, job: JobOptions<TrainProgress> = {}): Promise<TrainReport> {
  RESUME_OPTIONS(options, 'options');
  disjointSpeakers(options.trainSet, options.valSet);
  const text = await runJob<Native.Progress, TrainProgress, string>(
    (onProgress, signal) => native.resumeTraining(options.trainConfig ?? {}, options.trainSet, options.valSet, options.reference, options.outDir, onProgress, signal),
    trainProgress,
    job,
  );
  return JSON.parse(text) as TrainReport;
}

/** UAR, WAR, confusion matrix and per-item predictions of a checkpoint folder on a feature set. */
export async function evaluate(checkpointDir: string, set: FeatureSet, options: { device?: string } = {}, job: JobOptions<EvaluateProgress> = {}): Promise<EvalReport> {
  path(checkpointDir, 'checkpointDir');
  featureSet(set, 'set');
  EVALUATE_OPTIONS(options, 'options');
  const text = await runJob<Native.Progress, EvaluateProgress, string>(
    (onProgress, signal) => native.evaluateCheckpoint(checkpointDir, set, options.device, onProgress, signal),
    (p) => ({ stage: 'evaluate', done: p.done, total: p.total }),
    job,
  );
  return JSON.parse(text) as EvalReport;
}
