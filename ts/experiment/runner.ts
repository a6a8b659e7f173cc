/**
 * Runs an experiment: the paper's protocol from one config. Features are built once per experiment into feature
 * stores (every fold, variant and seed reads subsets of them); then per (fold, seed) Baseline-c trains first and the
 * other variants train against its best checkpoint; every task is evaluated clean and at each SNR of each noise
 * environment; the reports are written last (and again by `report(dir)`).
 *
 * Rerunning resumes: a finished task (its `evaluation.json` exists) is skipped, an interrupted one continues from
 * its `last/` checkpoint (after an abort or `kill -9`) to the result an uninterrupted run gives. A changed config is
 * refused with the list of changes.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { abortError } from '../errors.js';
import { ENHANCER_RECORD_FILE, enhancerRecord } from '../predict.js';
import { EMBEDDINGS_DATA, EMBEDDINGS_INDEX, type EmbeddingRow, encodeEmbeddings, keepEmbedding } from '../report/embeddings.js';
import { reportHtml } from '../report/html.js';
import {
  buildFeatureSet,
  evaluate,
  type FeatureSet,
  resumeTraining,
  type TrainProgress,
  type TrainReport,
  train as trainVariant,
  type UtteranceSpec,
  type Variant,
} from '../train.js';
import { JOB_OPTIONS, path as pathCheck } from '../validate.js';
import { configChanges, type ExperimentConfig, type ResolvedConfig, resolveConfig } from './config.js';
import { type ExperimentData, type LabelledUtterance, loadExperimentData, uniformAt } from './data.js';
import { lockTask } from './lock.js';
import {
  type Condition,
  type LastCheckpoint,
  type PredictionRow,
  parsePredictionsCsv,
  predictionsCsv,
  resultsMarkdown,
  score,
  summarise,
  type TaskResult,
  table1Text,
  taskMetrics,
  type VariantSummary,
} from './results.js';
import { planTasks, type Task } from './tasks.js';

export type ExperimentProgress =
  | { stage: 'features'; set: 'train' | 'matched' | 'unmatched'; done: number; total: number; cached?: boolean }
  | {
      stage: 'train';
      task: string;
      taskIndex: number;
      tasksTotal: number;
      epoch: number;
      done: number;
      total: number;
      loss: number;
      valUar?: number;
      etaSeconds: number | null;
    }
  | { stage: 'evaluate'; task: string; condition: Condition; done: number; total: number }
  | { stage: 'task'; task: string; status: 'skipped' | 'finished'; tasksDone: number; tasksTotal: number; etaSeconds: number | null };

export interface ExperimentOptions {
  onProgress?: (p: ExperimentProgress) => void;
  signal?: AbortSignal;
}

export interface ExperimentResult {
  dir: string;
  config: ResolvedConfig;
  tasks: TaskResult[];
  tasksTotal: number;
  summary: VariantSummary[];
  /** Paths of the reports written. */
  files: { results: string; predictions: string; markdown: string; html: string };
  /** The Table-1 rows as plain text. */
  table: string;
}

const CONFIG_FILE = 'config.json';
const PLAN_FILE = 'plan.json';
const EVALUATION_FILE = 'evaluation.json';

function experimentError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Writes a file so that readers see the old or the new content, never a part. */
function writeAtomic(path: string, text: string): void {
  writeAtomicBytes(path, text);
}

function writeAtomicBytes(path: string, text: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Reads a JSON file the experiment wrote; a damaged one is a coded error naming it. */
function readJson<T>(path: string): T {
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw experimentError(
      'TRNET_EXPERIMENT_CORRUPT',
      `${path}: expected the JSON trnet wrote, found text that does not parse (${(err as Error).message}). Restore the file, or delete the task folder that holds it and rerun to recompute that task.`,
    );
  }
}

/**
 * The config without the settings that say how to run it, not what it computes (they may change between reruns):
 * how many tasks share the device, how often losses are read from it, and whether features stay on it.
 */
function withoutRunSettings(config: unknown): unknown {
  if (typeof config !== 'object' || config === null) return config;
  const { tasksPerDevice: _k, training, ...rest } = config as Record<string, unknown>;
  if (typeof training !== 'object' || training === null) return { ...rest, training };
  const { lossReadEvery: _r, residentFeatures: _f, ...trainingRest } = training as Record<string, unknown>;
  return { ...rest, training: trainingRest };
}

/** Records the resolved config, or checks that a rerun into the same folder asks for the same experiment. */
function claimFolder(cfg: ResolvedConfig): void {
  const file = join(cfg.outDir, CONFIG_FILE);
  if (existsSync(file)) {
    const before = readJson<unknown>(file);
    const changes = configChanges(withoutRunSettings(before), withoutRunSettings(JSON.parse(JSON.stringify(cfg))));
    if (changes.length > 0) {
      throw experimentError(
        'TRNET_CONFIG_CHANGED',
        `${cfg.outDir} holds an experiment with another config; rerunning resumes only the same experiment. Changes:\n  ${changes.join('\n  ')}\nUse a new outDir for a new experiment, or restore the config.`,
      );
    }
    return;
  }
  writeAtomic(file, `${JSON.stringify(cfg, null, 2)}\n`);
}

interface FeatureSets {
  trainView: FeatureSet;
  matched: FeatureSet | null;
  unmatched: FeatureSet | null;
  /** Index of each utterance in `data.utterances` → its position in the test sets (null if not a test utterance). */
  testPos: Map<number, number>;
}

const spec = (u: LabelledUtterance): UtteranceSpec => ({ path: u.path, label: u.label, speaker: u.speaker, id: u.id });

async function buildSets(cfg: ResolvedConfig, data: ExperimentData, options: ExperimentOptions): Promise<FeatureSets> {
  const common = {
    frames: cfg.features.frames,
    pad: cfg.features.pad,
    fbank: cfg.features.fbank,
    waveformScale: cfg.features.waveformScale,
    enhancer: cfg.enhancer,
    store: { dir: cfg.features.storeDir },
    snrsDb: cfg.snrsDb,
  };
  const progress = (set: 'train' | 'matched' | 'unmatched') => (p: { done: number; total: number; cached?: boolean }) =>
    options.onProgress?.({ stage: 'features', set, done: p.done, total: p.total, ...(p.cached ? { cached: true } : {}) });
  const trainView = await buildFeatureSet(
    data.utterances.map(spec),
    { ...common, noises: data.matchedTrain.map((n) => n.path), noisy: 'one-per-utterance', includeClean: true, seed: cfg.dataSeed },
    { onProgress: progress('train'), signal: options.signal },
  );
  const testSpeakers = new Set(data.folds.flatMap((f) => f.test));
  const testIdx = data.utterances.map((u, i) => (testSpeakers.has(u.speaker) ? i : -1)).filter((i) => i >= 0);
  const testPos = new Map(testIdx.map((i, k) => [i, k]));
  const tests = testIdx.map((i) => spec(data.utterances[i]!));
  const testSet = async (noises: string[], seed: number, set: 'matched' | 'unmatched') =>
    noises.length === 0
      ? null
      : buildFeatureSet(tests, { ...common, noises, noisy: 'one-per-snr', includeClean: false, seed }, { onProgress: progress(set), signal: options.signal });
  const matched = await testSet(
    data.matchedTest.map((n) => n.path),
    cfg.dataSeed + 1,
    'matched',
  );
  const unmatched = await testSet(
    data.unmatched.map((n) => n.path),
    cfg.dataSeed + 2,
    'unmatched',
  );
  return { trainView, matched, unmatched, testPos };
}

/** Item indices of the training view for the utterances of `speakers` (clean: item 2k; noisy copy: 2k+1). */
function trainItems(cfg: ResolvedConfig, data: ExperimentData, speakers: string[], cleanOnly: boolean): number[] {
  const want = new Set(speakers);
  const out: number[] = [];
  data.utterances.forEach((u, k) => {
    if (!want.has(u.speaker)) return;
    if (cleanOnly) out.push(2 * k);
    else if (cfg.trainingNoise === 'authors') out.push(uniformAt(cfg.dataSeed, k) < 1 / (cfg.snrsDb.length + 1) ? 2 * k : 2 * k + 1);
    else out.push(2 * k, 2 * k + 1);
  });
  return out;
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}

type EvalCondition = {
  condition: Condition;
  set: FeatureSet | null;
  items: { index: number; u: LabelledUtterance; snr: number | null }[];
};

/** The variants whose classifier can read the FiLM-calibrated h~. */
const hasBridge = (v: Variant) => v === 'trnet' || v === 'trnet-no-low';
/** What a task's saved embeddings hold: what its classifier reads. */
const embeddingRepresentation = (v: Variant, cfg: ResolvedConfig): 'h~' | 'h' => (hasBridge(v) && cfg.model.classifierInput !== 'raw' ? 'h~' : 'h');

/**
 * Evaluates `checkpointDir` in every condition: one prediction row per test item, and (with `embeddings`) the
 * representations of the rows the t-SNE keeps (see report/embeddings.ts).
 */
async function evaluateConditions(
  task: Task,
  cfg: ResolvedConfig,
  checkpointDir: string,
  conditions: EvalCondition[],
  embeddings: boolean,
  options: ExperimentOptions,
): Promise<{ rows: PredictionRow[]; embedded: EmbeddingRow[]; vectors: number[][] }> {
  const rows: PredictionRow[] = [];
  const embedded: EmbeddingRow[] = [];
  const vectors: number[][] = [];
  for (const { condition, set, items } of conditions) {
    if (!set) continue;
    const wanted = embeddings && items.some((i) => keepEmbedding(condition, i.snr, cfg.snrsDb));
    const result = await evaluate(
      checkpointDir,
      set.subset(items.map((i) => i.index)),
      { device: cfg.device, embeddings: wanted },
      { signal: options.signal, onProgress: (p) => options.onProgress?.({ stage: 'evaluate', task: task.id, condition, done: p.done, total: p.total }) },
    );
    for (const p of result.predictions) {
      const item = items[p.item]!;
      if (p.label !== item.u.label)
        throw experimentError(
          'TRNET_INTERNAL',
          `task ${task.id}: item ${p.item} of the ${condition} set has label ${p.label}, expected ${item.u.label} (${item.u.id}); the feature store does not hold the experiment's utterances.`,
        );
      rows.push({
        utterance: item.u.id,
        speaker: item.u.speaker,
        fold: task.fold.name,
        seed: task.seed,
        variant: task.variant,
        condition,
        snrDb: item.snr,
        label: p.label,
        prediction: p.predicted,
        probs: p.probs,
        c: p.c,
      });
      if (wanted && p.embedding && keepEmbedding(condition, item.snr, cfg.snrsDb)) {
        embedded.push({ utterance: item.u.id, speaker: item.u.speaker, label: p.label, condition, snrDb: item.snr });
        vectors.push(p.embedding);
      }
    }
  }
  return { rows, embedded, vectors };
}

/** Trains a task (or resumes or reuses its run) and evaluates its best checkpoint in every condition (and, for the variants
 * with c, its last one), saving the representations the t-SNE needs. */
async function runTask(
  task: Task,
  cfg: ResolvedConfig,
  data: ExperimentData,
  sets: FeatureSets,
  options: ExperimentOptions,
  onTrain: (p: TrainProgress) => void,
): Promise<TaskResult> {
  const cleanOnly = task.variant === 'baseline-c';
  const trainSet = sets.trainView.subset(trainItems(cfg, data, task.fold.train, cleanOnly));
  const valSet = sets.trainView.subset(trainItems(cfg, data, task.fold.validation, cleanOnly));
  let reference: string | undefined;
  if (task.needs) {
    reference = join(dirname(task.dir), 'baseline-c', 'run', 'best');
    if (!existsSync(join(dirname(task.dir), 'baseline-c', EVALUATION_FILE))) {
      throw experimentError(
        'TRNET_TASK_NOT_READY',
        `task ${task.id} needs ${task.needs} (its frozen reference), which has not finished. Run the stage-1 task first.`,
      );
    }
  }
  const runDir = join(task.dir, 'run');
  const trainConfig = { ...cfg.training, seed: task.seed, device: cfg.device };
  let report: TrainReport;
  if (existsSync(join(runDir, 'report.json'))) {
    report = readJson<TrainReport>(join(runDir, 'report.json'));
  } else if (existsSync(join(runDir, 'last', 'state.json')) || existsSync(join(runDir, '.last.old', 'state.json'))) {
    report = await resumeTraining({ trainConfig, trainSet, valSet, reference, outDir: runDir }, { onProgress: onTrain, signal: options.signal });
  } else {
    // Nothing resumable: a start that died before its first checkpoint. Start over.
    rmSync(runDir, { recursive: true, force: true });
    mkdirSync(task.dir, { recursive: true });
    report = await trainVariant(
      { modelConfig: { ...cfg.model, variant: task.variant, numClasses: cfg.corpus.classes.length }, trainConfig, trainSet, valSet, reference, outDir: runDir },
      { onProgress: onTrain, signal: options.signal },
    );
  }
  throwIfAborted(options.signal);

  const testUtts = data.utterances.map((u, k) => ({ u, k })).filter(({ u }) => task.fold.test.includes(u.speaker));
  const conditions: EvalCondition[] = [
    { condition: 'clean', set: sets.trainView, items: testUtts.map(({ u, k }) => ({ index: 2 * k, u, snr: null })) },
    ...(['matched', 'unmatched'] as const).map((condition) => ({
      condition,
      set: sets[condition],
      items: testUtts.flatMap(({ u, k }) => cfg.snrsDb.map((snr, j) => ({ index: sets.testPos.get(k)! * cfg.snrsDb.length + j, u, snr }))),
    })),
  ];
  // The checkpoint chosen by validation UAR, with the representations the report's t-SNE embeds.
  const best = await evaluateConditions(task, cfg, report.bestDir, conditions, true, options);
  const rows = best.rows;
  const representation = embeddingRepresentation(task.variant, cfg);
  const { index, data: bytes } = encodeEmbeddings({ variant: task.variant, epoch: report.best.epoch, representation }, best.embedded, best.vectors);
  writeAtomicBytes(join(task.dir, EMBEDDINGS_DATA), bytes);
  writeAtomic(join(task.dir, EMBEDDINGS_INDEX), `${JSON.stringify(index)}\n`);
  // The last epoch's checkpoint too, for the variants with c: the issue asks for c of both (the last one's spreads
  // more with SNR than an early chosen one's). The same checkpoint when the last epoch was the chosen one.
  let last: LastCheckpoint | undefined;
  if (rows.some((r) => r.c !== null)) {
    const lastRows =
      report.epochsRun === report.best.epoch ? rows : (await evaluateConditions(task, cfg, join(runDir, 'last'), conditions, false, options)).rows;
    last = { epoch: report.epochsRun, bestEpoch: report.best.epoch, metrics: taskMetrics(lastRows) };
  }
  const result: TaskResult = {
    id: task.id,
    fold: task.fold.name,
    seed: task.seed,
    variant: task.variant,
    metrics: taskMetrics(rows),
    ...(last ? { last } : {}),
  };
  writeAtomic(join(task.dir, EVALUATION_FILE), `${JSON.stringify({ ...result, best: report.best, epochsRun: report.epochsRun, rows })}\n`);
  return result;
}

interface StoredEvaluation extends TaskResult {
  rows: PredictionRow[];
}

/** A stored evaluation's TaskResult fields (`last` only where recorded: older task folders lack it). */
function taskResult(s: Omit<StoredEvaluation, 'rows'>): TaskResult {
  return { id: s.id, fold: s.fold, seed: s.seed, variant: s.variant, metrics: s.metrics, ...(s.last ? { last: s.last } : {}) };
}

/** Resolves the config, reads the data, claims the run folder and records the plan (every entry point starts here). */
function prepare(config: ExperimentConfig): { cfg: ResolvedConfig; data: ExperimentData; tasks: Task[] } {
  const cfg = resolveConfig(config);
  const data = loadExperimentData(cfg);
  mkdirSync(cfg.outDir, { recursive: true });
  claimFolder(cfg);
  // The SE front end the features are made with (its model file's SHA-256 and fingerprint), so that `load`
  // can refuse a different one later. Written once: the feature stores are keyed by this fingerprint too.
  const record = join(cfg.outDir, ENHANCER_RECORD_FILE);
  if (!existsSync(record)) writeAtomic(record, `${JSON.stringify(enhancerRecord(cfg.enhancer), null, 2)}\n`);
  const tasks = planTasks(cfg, data.folds);
  const plan = {
    folds: data.folds,
    tasks: tasks.map((t) => ({ id: t.id, index: t.index, stage: t.stage, needs: t.needs })),
    noise: { matchedTrain: data.matchedTrain.map((n) => n.id), matchedTest: data.matchedTest.map((n) => n.id), unmatched: data.unmatched.map((n) => n.id) },
    utterances: data.utterances.length,
  };
  writeAtomic(join(cfg.outDir, PLAN_FILE), `${JSON.stringify(plan, null, 2)}\n`);
  return { cfg, data, tasks };
}

function trainProgress(task: Task, tasksTotal: number, options: ExperimentOptions, eta: (fraction: number) => number | null): (p: TrainProgress) => void {
  return (p) => {
    if (p.stage === 'epoch' || p.total === p.done || p.done % 10 === 0) {
      options.onProgress?.({
        stage: 'train',
        task: task.id,
        taskIndex: task.index,
        tasksTotal,
        epoch: p.epoch,
        done: p.done,
        total: p.total,
        loss: p.loss,
        ...(p.stage === 'epoch' ? { valUar: p.valUar } : {}),
        etaSeconds: eta(p.total > 0 ? p.done / p.total : 0),
      });
    }
  };
}

/**
 * Runs the experiment `config` describes (see ExperimentConfig) into `config.outDir` and resolves to its results.
 * Progress events name the stage, the task, done/total and an ETA; an AbortSignal stops it between or inside tasks
 * (a rerun resumes).
 */
export async function runExperiment(config: ExperimentConfig, options: ExperimentOptions = {}): Promise<ExperimentResult> {
  JOB_OPTIONS(options, 'options');
  const { cfg, data, tasks } = prepare(config);
  throwIfAborted(options.signal);
  const sets = await buildSets(cfg, data, options);
  const started = Date.now();
  let ran = 0;
  let done = 0;
  const eta = (fractionOfCurrent: number) =>
    ran === 0 && fractionOfCurrent === 0 ? null : ((Date.now() - started) / 1000 / (ran + fractionOfCurrent)) * (tasks.length - done - fractionOfCurrent);
  const finished = (task: Task) => existsSync(join(task.dir, EVALUATION_FILE));
  // Up to tasksPerDevice tasks train at once (each its own native job thread, folder and lock), taken in plan order
  // as their Baseline-c has finished. A failure stops the others (they save their state, as on an abort) and is
  // the one reported; an abort stops all of them. Every running task settles before this returns.
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const taskOptions: ExperimentOptions = { ...options, signal: stop.signal };
  const pending = [...tasks];
  const running = new Map<string, Promise<void>>();
  const doneIds = new Set<string>();
  let failure: { error: unknown } | null = null;
  const ready = (task: Task) => !task.needs || doneIds.has(task.needs) || existsSync(join(dirname(task.dir), 'baseline-c', EVALUATION_FILE));
  const start = (task: Task) => {
    const release = lockTask(task.dir, task.id);
    const work = (async () => {
      try {
        await runTask(task, cfg, data, sets, taskOptions, trainProgress(task, tasks.length, options, eta));
      } finally {
        release();
      }
    })().then(
      () => {
        ran++;
        done++;
        doneIds.add(task.id);
        options.onProgress?.({ stage: 'task', task: task.id, status: 'finished', tasksDone: done, tasksTotal: tasks.length, etaSeconds: eta(0) });
      },
      (error: unknown) => {
        // The first failure is the one reported; the aborts this loop causes in the other tasks are not.
        if (!failure && (!stop.signal.aborted || options.signal?.aborted)) failure = { error };
        stop.abort();
      },
    );
    running.set(
      task.id,
      work.finally(() => running.delete(task.id)),
    );
  };
  try {
    while (pending.length > 0 || running.size > 0) {
      if (!stop.signal.aborted) {
        for (let i = 0; i < pending.length && running.size < cfg.tasksPerDevice; ) {
          const task = pending[i]!;
          if (finished(task)) {
            pending.splice(i, 1);
            doneIds.add(task.id);
            done++;
            options.onProgress?.({
              stage: 'task',
              task: task.id,
              status: 'skipped',
              tasksDone: done,
              tasksTotal: tasks.length,
              etaSeconds: ran > 0 ? eta(0) : null,
            });
          } else if (ready(task)) {
            pending.splice(i, 1);
            start(task);
          } else i++;
        }
      }
      if (running.size === 0) {
        if (stop.signal.aborted || pending.length === 0) break;
        // Nothing runs and nothing is ready: a stage-2 task whose Baseline-c is not in this plan's pending list.
        const task = pending[0]!;
        throw experimentError(
          'TRNET_TASK_NOT_READY',
          `task ${task.id} needs ${task.needs} (its frozen reference), which has not finished and is not scheduled.`,
        );
      }
      await Promise.race(running.values());
    }
  } finally {
    // Let every started task save its state and release its lock before returning or rethrowing.
    if (running.size > 0) stop.abort();
    await Promise.allSettled(running.values());
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (failure) throw (failure as { error: unknown }).error;
  throwIfAborted(options.signal);
  return writeReports(cfg.outDir);
}

/**
 * Claims the run folder for `config` (records config.json and plan.json, refuses a changed config) and returns its
 * tasks, without building features or training: what a cluster submission does before any job starts.
 */
export function claimExperiment(config: ExperimentConfig): { config: ResolvedConfig; tasks: Task[] } {
  const { cfg, tasks } = prepare(config);
  return { config: cfg, tasks };
}

/** The experiment's tasks in job-array order (stage 1 first), with their ids, folders and dependencies. */
export function listTasks(config: ExperimentConfig): Task[] {
  const cfg = resolveConfig(config);
  return planTasks(cfg, loadExperimentData(cfg).folds);
}

/**
 * Runs exactly one task (by its index in `listTasks` order) into the shared run folder — what one element of a
 * cluster job array does. A finished task is a no-op (`status: "skipped"`); a stage-2 task whose Baseline-c has not
 * finished fails with TRNET_TASK_NOT_READY. Features come from the shared feature stores (built by the first task
 * that needs them; concurrent builders are safe).
 */
export async function runExperimentTask(
  config: ExperimentConfig,
  index: number,
  options: ExperimentOptions = {},
): Promise<{ task: string; status: 'skipped' | 'finished'; result: TaskResult }> {
  JOB_OPTIONS(options, 'options');
  const { cfg, data, tasks } = prepare(config);
  const task = tasks[index];
  if (!Number.isInteger(index) || !task)
    throw Object.assign(
      new Error(`task index: expected an integer in [0, ${tasks.length - 1}] (the experiment has ${tasks.length} tasks; see \`trnet tasks\`), found ${index}.`),
      { code: 'TRNET_INVALID_ARGUMENT' },
    );
  const evaluation = join(task.dir, EVALUATION_FILE);
  if (existsSync(evaluation)) {
    const { rows: _rows, ...stored } = readJson<StoredEvaluation>(evaluation);
    return {
      task: task.id,
      status: 'skipped',
      result: taskResult(stored),
    };
  }
  if (task.needs && !existsSync(join(dirname(task.dir), 'baseline-c', EVALUATION_FILE))) {
    throw experimentError(
      'TRNET_TASK_NOT_READY',
      `task ${task.id} needs ${task.needs} (its frozen reference), which has not finished. Run the stage-1 tasks first (on Slurm, stage 2 waits with --dependency=afterok).`,
    );
  }
  // One worker per task (a retried array element may start while the first still runs); the other fails with
  // TRNET_TASK_LOCKED and leaves the folder alone.
  const release = lockTask(task.dir, task.id);
  try {
    if (existsSync(evaluation)) {
      const { rows: _rows, ...stored } = readJson<StoredEvaluation>(evaluation);
      return {
        task: task.id,
        status: 'skipped',
        result: taskResult(stored),
      };
    }
    const sets = await buildSets(cfg, data, options);
    const started = Date.now();
    const result = await runTask(
      task,
      cfg,
      data,
      sets,
      options,
      trainProgress(task, tasks.length, options, (f) => (f > 0 ? ((Date.now() - started) / 1000 / f) * (1 - f) : null)),
    );
    return { task: task.id, status: 'finished', result };
  } finally {
    release();
  }
}

/** `<task dir>/task.json`: what `trnet-task` (crates/trnet-train/src/task.rs) needs to run a task without Node. */
export const TASK_DESCRIPTION_FILE = 'task.json';
/** Bumped with crates/trnet-train/src/task.rs DESCRIPTION_FORMAT when the description changes incompatibly. */
export const TASK_DESCRIPTION_FORMAT = 2;

/**
 * One task as `trnet-task` reads it: store items, configs, reference, and per evaluated item the fields of its
 * prediction row. Paths are relative to the task folder, so a run folder can move as a whole.
 */
export interface TaskDescription {
  format: number;
  id: string;
  index: number;
  stage: 1 | 2;
  fold: string;
  seed: number;
  variant: Variant;
  needs: string | null;
  reference: string | null;
  referenceEvaluation: string | null;
  modelConfig: Record<string, unknown>;
  trainConfig: Record<string, unknown>;
  device: string;
  train: { store: string; items: number[] };
  validation: { store: string; items: number[] };
  /** The representation the saved embeddings hold (embeddings.json `representation`). */
  representation: 'h~' | 'h';
  evaluation: {
    condition: Condition;
    store: string;
    /** `embed: true` on the rows whose representation embeddings.f32 keeps (report/embeddings.ts `keepEmbedding`). */
    items: { index: number; utterance: string; speaker: string; label: number; snrDb: number | null; embed?: true }[];
  }[];
}

/** The description of `task`: the same items, configs and reference `runTask` uses. */
function describeTask(task: Task, cfg: ResolvedConfig, data: ExperimentData, sets: FeatureSets): TaskDescription {
  const rel = (p: string) => relative(task.dir, p) || '.';
  const storeOf = (set: FeatureSet, what: string) => {
    if (!set.storePath)
      throw experimentError('TRNET_INTERNAL', `task ${task.id}: the ${what} features are not in a feature store; trnet-task reads stores only.`);
    return rel(set.storePath);
  };
  const cleanOnly = task.variant === 'baseline-c';
  const testUtts = data.utterances.map((u, k) => ({ u, k })).filter(({ u }) => task.fold.test.includes(u.speaker));
  // The t-SNE's rows are decided here, by the rule runTask applies, and carried as a flag: one place for the rule.
  const row = (condition: Condition, index: number, u: LabelledUtterance, snrDb: number | null) => ({
    index,
    utterance: u.id,
    speaker: u.speaker,
    label: u.label,
    snrDb,
    ...(keepEmbedding(condition, snrDb, cfg.snrsDb) ? { embed: true as const } : {}),
  });
  const evaluation: TaskDescription['evaluation'] = [
    { condition: 'clean', store: storeOf(sets.trainView, 'training'), items: testUtts.map(({ u, k }) => row('clean', 2 * k, u, null)) },
  ];
  for (const condition of ['matched', 'unmatched'] as const) {
    const set = sets[condition];
    if (!set) continue;
    evaluation.push({
      condition,
      store: storeOf(set, condition),
      items: testUtts.flatMap(({ u, k }) => cfg.snrsDb.map((snr, j) => row(condition, sets.testPos.get(k)! * cfg.snrsDb.length + j, u, snr))),
    });
  }
  const baseline = join(dirname(task.dir), 'baseline-c');
  return {
    format: TASK_DESCRIPTION_FORMAT,
    id: task.id,
    index: task.index,
    stage: task.stage,
    fold: task.fold.name,
    seed: task.seed,
    variant: task.variant,
    needs: task.needs,
    reference: task.needs ? rel(join(baseline, 'run', 'best')) : null,
    referenceEvaluation: task.needs ? rel(join(baseline, EVALUATION_FILE)) : null,
    modelConfig: { ...cfg.model, variant: task.variant, numClasses: cfg.corpus.classes.length },
    trainConfig: { ...cfg.training, seed: task.seed, device: cfg.device },
    device: cfg.device,
    train: { store: storeOf(sets.trainView, 'training'), items: trainItems(cfg, data, task.fold.train, cleanOnly) },
    validation: { store: storeOf(sets.trainView, 'training'), items: trainItems(cfg, data, task.fold.validation, cleanOnly) },
    representation: embeddingRepresentation(task.variant, cfg),
    evaluation,
  };
}

/**
 * Builds the feature stores (as the first task would) and writes `<task dir>/task.json` for every task, so that
 * `trnet-task` — a Rust binary that needs libtorch but no Node — can run any of them on a GPU machine or a cluster
 * node. What it writes into a task folder is what `runExperimentTask` would: the runner, `trnet report` and
 * `trnet status` see its tasks as finished. Returns the description files in task order.
 */
export async function describeTasks(config: ExperimentConfig, options: ExperimentOptions = {}): Promise<{ tasks: Task[]; files: string[] }> {
  JOB_OPTIONS(options, 'options');
  const { cfg, data, tasks } = prepare(config);
  const sets = await buildSets(cfg, data, options);
  const files = tasks.map((task) => {
    const file = join(task.dir, TASK_DESCRIPTION_FILE);
    writeAtomic(file, `${JSON.stringify(describeTask(task, cfg, data, sets), null, 1)}\n`);
    return file;
  });
  return { tasks, files };
}

export interface ExperimentState {
  dir: string;
  config: ResolvedConfig;
  tasks: { id: string; index: number; stage: 1 | 2; needs: string | null; status: 'finished' | 'started' | 'pending' }[];
  results: TaskResult[];
}

/** Reads a finished or partial experiment folder. */
export function openExperiment(dir: string): ExperimentState {
  pathCheck(dir, 'dir');
  const configFile = join(dir, CONFIG_FILE);
  const planFile = join(dir, PLAN_FILE);
  if (!existsSync(configFile) || !existsSync(planFile)) {
    throw experimentError(
      'TRNET_EXPERIMENT_NOT_FOUND',
      `expected an experiment folder at ${dir} (with ${CONFIG_FILE} and ${PLAN_FILE}), found ${existsSync(dir) ? 'a folder without them' : 'nothing'}. Point it at the outDir of \`trnet train\`.`,
    );
  }
  const config = readJson<ResolvedConfig>(configFile);
  const plan = readJson<{ tasks: { id: string; index: number; stage: 1 | 2; needs: string | null }[] }>(planFile);
  const results: TaskResult[] = [];
  const tasks = plan.tasks.map((t) => {
    const taskDir = join(dir, 'tasks', t.id);
    const evaluation = join(taskDir, EVALUATION_FILE);
    if (existsSync(evaluation)) {
      const { rows: _rows, ...result } = readJson<StoredEvaluation>(evaluation);
      results.push(taskResult(result));
      return { ...t, status: 'finished' as const };
    }
    return { ...t, status: existsSync(join(taskDir, 'run')) ? ('started' as const) : ('pending' as const) };
  });
  return { dir, config, tasks, results };
}

/**
 * Regenerates results.json, predictions.csv, RESULTS.md and report.html (figures as inline SVG) of an experiment
 * folder from its finished tasks; a partial folder gives partial reports that name the missing tasks.
 */
export async function writeReports(dir: string): Promise<ExperimentResult> {
  pathCheck(dir, 'dir');
  const state = openExperiment(dir);
  const cfg = state.config;
  const rows: PredictionRow[] = [];
  for (const t of state.tasks) if (t.status === 'finished') rows.push(...readJson<StoredEvaluation>(join(dir, 'tasks', t.id, EVALUATION_FILE)).rows);
  const summary = summarise(state.results, cfg.variants.includes('baseline-c') ? cfg.variants : ['baseline-c', ...cfg.variants]);
  const files = {
    results: join(dir, 'results.json'),
    predictions: join(dir, 'predictions.csv'),
    markdown: join(dir, 'RESULTS.md'),
    html: join(dir, 'report.html'),
  };
  const folds = new Set(state.tasks.map((t) => t.id.split('/')[0])).size;
  writeAtomic(
    files.results,
    `${JSON.stringify(
      { tasksDone: state.results.length, tasksTotal: state.tasks.length, classes: cfg.corpus.classes, snrsDb: cfg.snrsDb, summary, tasks: state.results },
      null,
      2,
    )}\n`,
  );
  writeAtomic(files.predictions, predictionsCsv(rows, cfg.corpus.classes));
  writeAtomic(
    files.markdown,
    resultsMarkdown({
      title: `TRNet experiment: ${cfg.corpus.reader} (${cfg.corpus.classes.join(', ')})`,
      environments: { matched: cfg.noise.matched.name, unmatched: cfg.noise.unmatched?.name ?? null },
      snrsDb: cfg.snrsDb,
      folds,
      seeds: cfg.seeds,
      summary,
      tasksDone: state.results.length,
      tasksTotal: state.tasks.length,
      tasks: state.results,
    }),
  );
  writeAtomic(files.html, await reportHtml({ dir, config: cfg, tasks: state.tasks, summary, rows }));
  return { dir, config: cfg, tasks: state.results, tasksTotal: state.tasks.length, summary, files, table: table1Text(summary) };
}

/** Recomputes every task's metrics from predictions.csv (a consistency check of the outputs). */
export function metricsFromPredictions(dir: string): TaskResult[] {
  pathCheck(dir, 'dir');
  const state = openExperiment(dir);
  const rows = parsePredictionsCsv(readFileSync(join(dir, 'predictions.csv'), 'utf8'), state.config.corpus.classes);
  return state.results.map((t) => ({ ...t, metrics: taskMetrics(rows.filter((r) => r.fold === t.fold && r.seed === t.seed && r.variant === t.variant)) }));
}

export { score };
