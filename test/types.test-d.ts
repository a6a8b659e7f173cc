/**
 * Type-level test of the Rust ↔ TypeScript boundary, checked by `tsc --noEmit` (npm test): every config,
 * option, progress event and report the façade exports is the type generated from the addon's Rust
 * definitions (ts/native/index.d.ts), and these assertions spell each one out field by field. A field renamed,
 * added, removed or retyped in src/*.rs (or in an engine struct the addon converts from) changes the
 * generated declaration and fails here, so the façade cannot drift from Rust unnoticed.
 *
 * Not a vitest suite (vitest collects *.test.ts): `expectTypeOf` is checked by the compiler alone.
 */
import { expectTypeOf } from 'vitest';
import type {
  AudioOptions,
  BestEpoch,
  DecodeProgress,
  EnhanceProgress,
  EnhancerOptions,
  EpochRecord,
  EvalReport,
  EvaluateProgress,
  ExperimentConfig,
  FbankOptions,
  FbankProgress,
  FeatureSetOptions,
  FeatureStoreOptions,
  FeaturesProgress,
  LossValues,
  LrPlateau,
  MatmulBenchOptions,
  MatmulProgress,
  ModelConfig,
  Prediction,
  Progress,
  StftOptions,
  TrainConfig,
  TrainProgress,
  TrainReport,
  UtteranceSpec,
  ValMetrics,
  Variant,
} from '../ts/index.js';
import {
  buildFeatureSet,
  describeTasks,
  evaluate,
  type FeatureSet,
  type LoadOptions,
  load,
  type Model,
  type ModelFrames,
  type ModelOutput,
  type OnnxExport,
  type Precision,
  type PredictInput,
  type PredictOptions,
  type PredictResult,
  resumeTraining,
  type Task,
  type TaskDescription,
  type TimelineOptions,
  type TimelineSegment,
  trainModel,
} from '../ts/index.js';
import type { Native } from '../ts/native.js';

// ── The façade's names are the generated types, not copies.
expectTypeOf<TrainReport>().toEqualTypeOf<Native.TrainReport>();
expectTypeOf<EvalReport>().toEqualTypeOf<Native.EvalReport>();
expectTypeOf<ModelConfig>().toEqualTypeOf<Native.ModelConfig>();
expectTypeOf<TrainConfig>().toEqualTypeOf<Native.TrainConfig>();
expectTypeOf<FeatureSetOptions>().toEqualTypeOf<Native.FeatureSetOptions>();
expectTypeOf<Progress>().toEqualTypeOf<Native.Progress>();

// ── Progress: a union discriminated by `stage`, one member per stage.
// Written out flat: expectTypeOf tells an intersection from the equivalent object type.
type Counted<S extends string> = { stage: S; done: number; total: number };
expectTypeOf<Progress['stage']>().toEqualTypeOf<'decode' | 'fbank' | 'enhance' | 'features' | 'step' | 'epoch' | 'evaluate' | 'matmul'>();
expectTypeOf<DecodeProgress>().toEqualTypeOf<Counted<'decode'>>();
expectTypeOf<FbankProgress>().toEqualTypeOf<Counted<'fbank'>>();
expectTypeOf<EnhanceProgress>().toEqualTypeOf<Counted<'enhance'>>();
expectTypeOf<EvaluateProgress>().toEqualTypeOf<Counted<'evaluate'>>();
expectTypeOf<MatmulProgress>().toEqualTypeOf<Counted<'matmul'>>();
expectTypeOf<FeaturesProgress>().toEqualTypeOf<{ stage: 'features'; done: number; total: number; cached?: boolean }>();
expectTypeOf<Extract<TrainProgress, { stage: 'step' }>>().toEqualTypeOf<{
  stage: 'step';
  done: number;
  total: number;
  epoch: number;
  lr: number;
  ce: number;
  loss: number;
  low?: number;
  high?: number;
}>();
expectTypeOf<Extract<TrainProgress, { stage: 'epoch' }>>().toEqualTypeOf<{
  stage: 'epoch';
  done: number;
  total: number;
  epoch: number;
  lr: number;
  ce: number;
  loss: number;
  low?: number;
  high?: number;
  valUar: number;
  valWar: number;
  valCe: number;
  bestEpoch?: number;
  bestUar?: number;
}>();
// Narrowing by `stage` reaches the epoch-only fields; a step has none.
expectTypeOf<Extract<TrainProgress, { stage: 'step' }>>().not.toHaveProperty('valUar');

// ── Reports.
expectTypeOf<Variant>().toEqualTypeOf<'baseline-c' | 'baseline-n' | 'baseline-e' | 'trnet' | 'trnet-no-low' | 'trnet-no-high'>();
expectTypeOf<LossValues>().toEqualTypeOf<{ ce: number; low: number | null; high: number | null; total: number }>();
expectTypeOf<ValMetrics>().toEqualTypeOf<{ uar: number; war: number; ce: number }>();
expectTypeOf<BestEpoch>().toEqualTypeOf<{ epoch: number; uar: number; war: number }>();
expectTypeOf<EpochRecord>().toEqualTypeOf<{ epoch: number; train: LossValues; val: ValMetrics; lr: number; improved: boolean; seconds: number }>();
expectTypeOf<TrainReport>().toEqualTypeOf<{
  variant: Variant;
  best: BestEpoch;
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
}>();
expectTypeOf<Prediction>().toEqualTypeOf<{
  item: number;
  id: string;
  label: number;
  predicted: number;
  probs: number[];
  c: number | null;
  embedding: number[] | null;
}>();
expectTypeOf<EvalReport>().toEqualTypeOf<{
  uar: number;
  war: number;
  ce: number;
  confusion: number[][];
  recalls: (number | null)[];
  predictions: Prediction[];
}>();

// ── Configs and options (absent fields take the defaults; `null` where the engine accepts it).
expectTypeOf<ModelConfig>().toEqualTypeOf<{
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
  headInit?: 'neutral' | 'torch-default' | 'snr-random';
  snrClamp?: 'hard' | 'leaky' | 'sigmoid';
  snrStandardize?: boolean;
  snrCentred?: boolean;
}>();
expectTypeOf<LrPlateau>().toEqualTypeOf<{ factor?: number; patience?: number; threshold?: number; minLr?: number }>();
expectTypeOf<TrainConfig>().toEqualTypeOf<{
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  adamEps?: number;
  weightDecay?: number;
  earlyStoppingPatience?: number | null;
  lrPlateau?: LrPlateau | null;
  gradClipNorm?: number | null;
  seed?: number;
  device?: string;
  threads?: number | null;
  mixedPrecision?: boolean;
  prefetch?: number;
  evalBatchSize?: number | null;
  snrHeadLrMultiplier?: number;
  lossReadEvery?: number;
  adamUpdate?: 'per-tensor' | 'flat';
  residentFeatures?: boolean;
  mixedPrecisionDtype?: 'float16' | 'bfloat16';
}>();
// How many tasks train at once on the device (ts/experiment/config.ts).
expectTypeOf<ExperimentConfig['tasksPerDevice']>().toEqualTypeOf<number | undefined>();
expectTypeOf<UtteranceSpec>().toEqualTypeOf<{ path: string; label: number; speaker: string; id?: string }>();
expectTypeOf<FeatureStoreOptions>().toEqualTypeOf<{ dir: string }>();
expectTypeOf<FeatureSetOptions>().toEqualTypeOf<{
  noises?: string[];
  noisy?: 'none' | 'one-per-utterance' | 'one-per-snr';
  includeClean?: boolean;
  snrsDb?: number[];
  seed?: number;
  frames?: number;
  pad?: 'zero' | 'repeat';
  fbank?: FbankOptions;
  waveformScale?: number;
  enhancer?: EnhancerOptions;
  store?: FeatureStoreOptions;
}>();
expectTypeOf<EnhancerOptions>().toEqualTypeOf<{ kind?: string; model?: string; card?: string; cacheDir?: string; intraThreads?: number }>();
expectTypeOf<AudioOptions>().toEqualTypeOf<{ targetRate?: number }>();
expectTypeOf<MatmulBenchOptions>().toEqualTypeOf<{ size?: number; steps?: number; device?: string; seed?: number }>();
expectTypeOf<StftOptions>().toEqualTypeOf<{ nFft: number; hopLength: number; winLength?: number; window?: string; center?: boolean; padMode?: string }>();
expectTypeOf<FbankOptions>().toEqualTypeOf<{
  blackmanCoeff?: number;
  dither?: number;
  ditherSeed?: number;
  energyFloor?: number;
  frameLength?: number;
  frameShift?: number;
  highFreq?: number;
  htkCompat?: boolean;
  lowFreq?: number;
  logFloor?: number;
  minDuration?: number;
  numMelBins?: number;
  preemphasisCoefficient?: number;
  rawEnergy?: boolean;
  removeDcOffset?: boolean;
  roundToPowerOfTwo?: boolean;
  sampleFrequency?: number;
  snipEdges?: boolean;
  subtractMean?: boolean;
  useEnergy?: boolean;
  useLogFbank?: boolean;
  usePower?: boolean;
  vtlnHigh?: number;
  vtlnLow?: number;
  vtlnWarp?: number;
  windowType?: string;
}>();

// ── The jobs resolve with the generated reports and report the generated events (no JSON text, no casts).
expectTypeOf(trainModel).returns.resolves.toEqualTypeOf<TrainReport>();
expectTypeOf(resumeTraining).returns.resolves.toEqualTypeOf<TrainReport>();
expectTypeOf(evaluate).returns.resolves.toEqualTypeOf<EvalReport>();
expectTypeOf(evaluate).parameter(2).toEqualTypeOf<{ device?: string; embeddings?: boolean } | undefined>();
expectTypeOf(buildFeatureSet).returns.resolves.toEqualTypeOf<FeatureSet>();
expectTypeOf(trainModel).parameter(1).toEqualTypeOf<{ onProgress?: (progress: TrainProgress) => void; signal?: AbortSignal } | undefined>();

// ── Predictions (ts/predict.ts): the native model's output is generated; what predict returns is spelled out.
expectTypeOf<ModelOutput>().toEqualTypeOf<Native.ModelOutput>();
expectTypeOf<ModelOutput>().toEqualTypeOf<{ probabilities: number[]; c?: number; validFrames: number; embedding?: Float32Array }>();
expectTypeOf<PredictResult>().toEqualTypeOf<{ label: string; probabilities: Record<string, number>; c: number | null; embedding?: Float32Array }>();
expectTypeOf<Model['predict']>().parameter(1).toEqualTypeOf<PredictOptions | undefined>();
expectTypeOf<PredictOptions>().toEqualTypeOf<{ embedding?: boolean }>();
expectTypeOf<PredictInput>().toEqualTypeOf<string | Uint8Array | { samples: Float32Array; sampleRate: number }>();
expectTypeOf(load).returns.resolves.toEqualTypeOf<Model>();
expectTypeOf(load).parameter(1).toEqualTypeOf<LoadOptions | undefined>();
expectTypeOf<Model['predict']>().returns.resolves.toEqualTypeOf<PredictResult>();
expectTypeOf<Model['predictBatch']>().returns.resolves.toEqualTypeOf<PredictResult[]>();

// ── Task descriptions for trnet-task (ts/experiment/runner.ts; read by crates/trnet-train/src/task.rs).
expectTypeOf(describeTasks).returns.resolves.toEqualTypeOf<{ tasks: Task[]; files: string[] }>();
expectTypeOf<TaskDescription['train']>().toEqualTypeOf<{ store: string; items: number[] }>();
expectTypeOf<TaskDescription['evaluation'][number]['items'][number]>().toEqualTypeOf<{
  index: number;
  utterance: string;
  speaker: string;
  label: number;
  snrDb: number | null;
  embed?: true;
}>();
expectTypeOf<TaskDescription['representation']>().toEqualTypeOf<'h~' | 'h'>();
// ── ONNX export (ts/predict.ts): the frames predict feeds the network, and what exportOnnx wrote.
expectTypeOf<ModelFrames>().toEqualTypeOf<{ x: Float32Array; xe: Float32Array | null; frames: number; bins: number }>();
expectTypeOf<OnnxExport>().toEqualTypeOf<{ path: string; bytes: number; inputs: string[]; outputs: string[]; metadata: Record<string, string> }>();
expectTypeOf<Model['frames']>().parameter(0).toEqualTypeOf<PredictInput>();
expectTypeOf<Model['frames']>().returns.resolves.toEqualTypeOf<ModelFrames>();
expectTypeOf<Model['exportOnnx']>().parameter(0).toEqualTypeOf<string>();
expectTypeOf<Model['exportOnnx']>().returns.resolves.toEqualTypeOf<OnnxExport>();
expectTypeOf<Model['features']>().toEqualTypeOf<
  Readonly<{ frames: number; pad: 'zero' | 'repeat'; fbank: import('../ts/index.js').FbankOptions; waveformScale: number }>
>();
expectTypeOf<Model['timeline']>().parameters.toEqualTypeOf<[PredictInput, TimelineOptions?]>();
expectTypeOf<Model['timeline']>().returns.resolves.toEqualTypeOf<TimelineSegment[]>();
expectTypeOf<TimelineOptions>().toEqualTypeOf<{ window?: number; hop?: number; silenceDb?: number; silenceFloorDb?: number }>();
// A segment is a prediction or silence, told apart by `silent`.
expectTypeOf<Extract<TimelineSegment, { silent: true }>>().toEqualTypeOf<{ start: number; end: number; levelDb: number; silent: true }>();
expectTypeOf<Extract<TimelineSegment, { silent: false }>>().toMatchTypeOf<PredictResult & { start: number; end: number; levelDb: number }>();
expectTypeOf<LoadOptions['threads']>().toEqualTypeOf<number | undefined>();
expectTypeOf<LoadOptions['intraOpThreads']>().toEqualTypeOf<number | undefined>();
expectTypeOf<LoadOptions['precision']>().toEqualTypeOf<'fp32' | 'bf16' | undefined>();
expectTypeOf<Precision>().toEqualTypeOf<'fp32' | 'bf16'>();
expectTypeOf<Model['precision']>().toEqualTypeOf<Precision>();
expectTypeOf<Model['jobs']>().toEqualTypeOf<{ active: number; peak: number; limit: number }>();
