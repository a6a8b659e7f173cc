/**
 * trnet — noise-robust speech emotion recognition (TRNet) for Node.js.
 *
 * The public façade. Numeric work happens in the native addon (Rust on libtorch and ONNX Runtime); this layer
 * types it, validates input and runs long jobs with progress and cancellation.
 */

import { type JobOptions, type ProgressOf, runJob, stages } from './jobs.js';
import { type Native, native } from './native.js';
import {
  arrayOf,
  BENCH_OPTIONS,
  callNative,
  float32Array,
  integer,
  invalid,
  NAMED_TENSOR,
  ONNX_SESSION_OPTIONS,
  oneOf,
  optional,
  readableFile,
} from './validate.js';

export { isAbortError, isTrnetError, type TrnetError, type TrnetErrorCode } from './errors.js';
export type { JobOptions, Progress, ProgressOf } from './jobs.js';

export type NativeInfo = Native.NativeInfo;
export type TensorInfo = Native.TensorInfo;
export type NamedTensor = Native.NamedTensor;

/** Versions, devices and thread counts of the native runtime (what `trnet doctor` prints). */
export function info(): NativeInfo {
  return callNative(() => native.info());
}

export type MallocStatus = Native.MallocStatus;

/**
 * How glibc's malloc treats the large, short-lived buffers of training and evaluation jobs (process-wide; a
 * model loaded with `load()` counts as one job until it is closed, so predictions reuse their memory).
 * "fast" (the default): while a job runs, freed memory is kept and reused instead of going back to the kernel
 * and being faulted in again (paper-size CPU training steps ≈1.4–1.6× less CPU time; peak resident memory
 * ≈0.4–0.6 GiB higher); when the last job ends glibc's values are set again and the free memory is handed
 * back. "default": glibc's own behaviour during jobs too. Without a mode, reports where it stands (`applied`:
 * the mode's settings are in force now — "fast" only while a job runs). Elsewhere than on glibc
 * (`supported: false`) nothing is tuned.
 */
export function configureMalloc(mode?: 'fast' | 'default'): MallocStatus {
  optional(oneOf('fast', 'default'))(mode, 'mode');
  return callNative(() => native.configureMalloc(mode));
}

/** Row-wise softmax over `classes` columns; the input is read in place, the result is a new array. */
export function softmax(logits: Float32Array, classes: number): Float32Array {
  float32Array(logits, 'logits');
  integer(1, 2 ** 32 - 1, 'Pass the number of columns per row, e.g. 4.')(classes, 'classes');
  return callNative(() => native.softmax(logits, classes));
}

/**
 * An ONNX model run through ONNX Runtime (the SE front ends are built on this): `OnnxSession.load(path)`
 * gives the native session, whose `run` checks its feeds here first like every other export.
 */
export const OnnxSession = Object.freeze({
  load(file: string, options?: Native.OnnxSessionOptions): OnnxSession {
    readableFile(file, 'path');
    optional(ONNX_SESSION_OPTIONS)(options, 'options');
    return callNative(() => native.OnnxSession.load(file, options));
  },
});
export type OnnxSession = Native.OnnxSession;
const nativeRun = native.OnnxSession.prototype.run;
Object.defineProperty(native.OnnxSession.prototype, 'run', {
  value: function run(this: Native.OnnxSession, feeds: Native.NamedTensor[]): Native.NamedTensor[] {
    if (!(this instanceof native.OnnxSession)) throw invalid('this', 'an OnnxSession', this, 'Call run on a session from OnnxSession.load.');
    arrayOf(NAMED_TENSOR, 1024)(feeds, 'feeds');
    return callNative(() => nativeRun.call(this, feeds));
  },
  writable: true,
  configurable: true,
});

export type MatmulBenchOptions = Native.BurnOptions;
export type MatmulProgress = ProgressOf<'matmul'>;

export type MatmulBenchResult = Native.BurnResult;

/** Measures libtorch matrix-multiply throughput as a cancellable background job. */
export async function benchMatmul(options: MatmulBenchOptions = {}, job: JobOptions<MatmulProgress> = {}): Promise<MatmulBenchResult> {
  BENCH_OPTIONS(options, 'options');
  return runJob((onProgress, signal) => native.matmulBurn(options, onProgress, signal), stages('matmul'), job);
}

export { type AudioBatchItem, type AudioClip, type AudioOptions, type DecodeProgress, decodeAudio, decodeAudioBytes, loadAudioBatch } from './audio.js';
export { type Fold, losoFolds, select } from './cv/loso.js';
export {
  IEMOCAP_FOUR_CLASSES,
  type NoiseClip,
  RAVDESS_EMOTIONS,
  readEsc50,
  readIemocap,
  readMusanNoise,
  readNoiseFolder,
  readRavdess,
  type Utterance,
} from './data/corpora.js';
export { CREMAD_EMOTIONS, EMODB_EMOTIONS, readCremaD, readEmodb, readManifest } from './data/more-corpora.js';
export {
  type EnhanceItem,
  type EnhanceProgress,
  type EnhancerInfo,
  type EnhancerOptions,
  enhance,
  enhanceBatch,
  enhancerInfo,
  siSdrDb,
  snrDb,
  writeWav,
} from './enhance.js';
export { type ExperimentConfig, type NoiseConfig, PAPER_CLASSES, PAPER_SNRS, type ResolvedConfig, resolveConfig, VARIANTS } from './experiment/config.js';
export type { Condition, LastCheckpoint, PredictionRow, Score, Stat, TaskMetrics, TaskResult, VariantSummary } from './experiment/results.js';
export {
  describeTasks,
  type ExperimentOptions,
  type ExperimentProgress,
  type ExperimentResult,
  type ExperimentState,
  listTasks,
  metricsFromPredictions,
  openExperiment,
  runExperiment,
  runExperimentTask,
  TASK_DESCRIPTION_FILE,
  type TaskDescription,
  writeReports as report,
} from './experiment/runner.js';
export type { Task } from './experiment/tasks.js';
export { type FbankOptions, type FbankProgress, type Features, type FeaturesBatchItem, fbank, fbankBatch, PAPER_FBANK } from './features.js';
export {
  type EnhancerRecord,
  type LoadOptions,
  load,
  type Model,
  type ModelFrames,
  type ModelOutput,
  type OnnxExport,
  type Precision,
  type PredictFeatures,
  type PredictInput,
  type PredictOptions,
  type PredictResult,
  type TimelineOptions,
  type TimelineSegment,
} from './predict.js';
export { CMGAN_STFT, type FixedLength, fixLength, GTCRN_STFT, istft, type Mixture, mixAtSnr, type Spectrogram, type StftOptions, stft } from './signal.js';
export type { TrainOptions } from './train.js';
export {
  type BestEpoch,
  buildFeatureSet,
  type EpochRecord,
  type EvalReport,
  type EvaluateProgress,
  evaluate,
  type FeatureSet,
  type FeatureSetOptions,
  type FeatureStoreOptions,
  type FeaturesProgress,
  type LossValues,
  type LrPlateau,
  type ModelConfig,
  openFeatureSet,
  type Prediction,
  resumeTraining,
  type TrainConfig,
  type TrainProgress,
  type TrainReport,
  train as trainModel,
  type UtteranceSpec,
  type ValMetrics,
  type Variant,
} from './train.js';

import type { ExperimentConfig } from './experiment/config.js';
import { type ExperimentOptions, type ExperimentResult, runExperiment } from './experiment/runner.js';
import { type TrainOptions, type TrainProgress, type TrainReport, train as trainVariant } from './train.js';

/**
 * Runs an experiment (the paper's protocol: variants × leave-one-speaker-out folds × seeds, evaluated clean and in
 * matched and unmatched noise) from one config, into `config.outDir`; rerunning resumes. Given a single variant's
 * `TrainOptions` (a `trainSet`), trains that one model instead (the same as `trainModel`).
 */
export function train(config: ExperimentConfig, options?: ExperimentOptions): Promise<ExperimentResult>;
export function train(options: TrainOptions, job?: JobOptions<TrainProgress>): Promise<TrainReport>;
export function train(
  arg: ExperimentConfig | TrainOptions,
  options: ExperimentOptions | JobOptions<TrainProgress> = {},
): Promise<ExperimentResult | TrainReport> {
  if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) {
    return Promise.reject(
      invalid(
        'train',
        'an experiment config object (or a single variant’s TrainOptions with a trainSet)',
        arg,
        'See docs/experiments.md; `trnet init` writes an example config.',
      ),
    );
  }
  if ('trainSet' in arg) return trainVariant(arg, options as JobOptions<TrainProgress>);
  return runExperiment(arg as ExperimentConfig, options as ExperimentOptions);
}
