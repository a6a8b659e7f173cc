/**
 * Training and evaluation. Features are computed natively into a FeatureSet that stays in Rust memory or, with
 * the `store` option, in a feature store on disk that later calls reuse;
 * `train` runs a TRNet variant as a background job with progress and AbortSignal; `evaluate` scores a
 * checkpoint. Config objects are parsed by the Rust structs that define them (unknown fields are errors, absent
 * ones take the paper's defaults). Every type here is generated from the addon's Rust definitions
 * (ts/native/index.d.ts, src/configs.rs, src/reports.rs, src/jobs.rs); none is written by hand.
 */

import { type JobOptions, type ProgressOf, runJob, stages } from './jobs.js';
import { type Native, native } from './native.js';
import {
  arrayOf,
  callNative,
  disjointSpeakers,
  EVALUATE_OPTIONS,
  FEATURE_SET_OPTIONS,
  featureSet,
  integer,
  path,
  RESUME_OPTIONS,
  SIGNAL_ONLY,
  TRAIN_OPTIONS,
  UTTERANCE_SPEC,
  uniqueIds,
} from './validate.js';

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
export type Variant = Native.Variant;
/** crates/trnet-model/src/config.rs (ModelConfig); paper values are the defaults. */
export type ModelConfig = Native.ModelConfig;
/** crates/trnet-train/src/config.rs (TrainConfig); paper values are the defaults (80 epochs, batch 32, Adam 1e-3). */
export type TrainConfig = Native.TrainConfig;
export type LrPlateau = Native.LrPlateau;
export type UtteranceSpec = Native.UtteranceSpec;
/**
 * With `store`, the features are kept in a feature store on disk instead of in memory: a subfolder of `dir` named
 * by a hash of every input (files by path, size and mtime; options; seed; the enhancer's fingerprint). A later
 * call with the same inputs reopens it without computing anything (`set.cached`); batches read it on demand.
 */
export type FeatureSetOptions = Native.FeatureSetOptions;
export type FeatureStoreOptions = Native.FeatureStoreOptions;
/** `cached` is set on the single event of a build that found its feature store and computed nothing. */
export type FeaturesProgress = ProgressOf<'features'>;
/** `step` after every optimiser step, `epoch` (with validation metrics) after every epoch. */
export type TrainProgress = ProgressOf<'step' | 'epoch'>;
export type EvaluateProgress = ProgressOf<'evaluate'>;
export type LossValues = Native.LossValues;
export type ValMetrics = Native.ValMetrics;
export type BestEpoch = Native.BestEpoch;
export type EpochRecord = Native.EpochRecord;
export type TrainReport = Native.TrainReport;
export type Prediction = Native.Prediction;
export type EvalReport = Native.EvalReport;

/** Decodes, mixes (seeded), enhances and computes fixed-length features for `utterances` on all cores. */
export async function buildFeatureSet(
  utterances: UtteranceSpec[],
  options: FeatureSetOptions = {},
  job: JobOptions<FeaturesProgress> = {},
): Promise<FeatureSet> {
  arrayOf(UTTERANCE_SPEC)(utterances, 'utterances');
  uniqueIds(utterances, 'utterances');
  FEATURE_SET_OPTIONS(options, 'options');
  return runJob((onProgress, signal) => native.buildFeatureSet(utterances, options, onProgress, signal), stages('features'), job);
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
  return runJob((_onProgress, signal) => native.openFeatureSet(dir, signal), stages(), { signal: job.signal });
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
  return runJob(
    (onProgress, signal) =>
      native.trainModel(
        options.trainConfig ?? {},
        options.modelConfig,
        options.trainSet,
        options.valSet,
        options.reference,
        options.outDir,
        onProgress,
        signal,
      ),
    stages('step', 'epoch'),
    job,
  );
}

/** Continues an interrupted run in `outDir` (after an abort or a crash) to the same result an uninterrupted run gives. */
export async function resumeTraining(
  options: Omit<TrainOptions, 'modelConfig'> & { modelConfig?: ModelConfig },
  job: JobOptions<TrainProgress> = {},
): Promise<TrainReport> {
  RESUME_OPTIONS(options, 'options');
  disjointSpeakers(options.trainSet, options.valSet);
  return runJob(
    (onProgress, signal) =>
      native.resumeTraining(options.trainConfig ?? {}, options.trainSet, options.valSet, options.reference, options.outDir, onProgress, signal),
    stages('step', 'epoch'),
    job,
  );
}

/**
 * UAR, WAR, confusion matrix and per-item predictions of a checkpoint folder on a feature set. With
 * `embeddings: true` each prediction also carries the representation the classifier reads (h~ for the calibrated
 * TRNet variants, h otherwise) as `embedding`; otherwise `embedding` is null.
 */
export async function evaluate(
  checkpointDir: string,
  set: FeatureSet,
  options: { device?: string; embeddings?: boolean } = {},
  job: JobOptions<EvaluateProgress> = {},
): Promise<EvalReport> {
  path(checkpointDir, 'checkpointDir');
  featureSet(set, 'set');
  EVALUATE_OPTIONS(options, 'options');
  return runJob(
    (onProgress, signal) => native.evaluateCheckpoint(checkpointDir, set, options.device, options.embeddings, onProgress, signal),
    stages('evaluate'),
    job,
  );
}
