/**
 * Runs an experiment's tasks as Slurm job arrays: stage 1 (Baseline-c per fold × seed) as one array, stage 2 (the
 * variants that need it) as a second array that starts only after every stage-1 element succeeded
 * (`--dependency=afterok`). Every element runs `trnet run-task <config>` with SLURM_ARRAY_TASK_ID = the task's global
 * index (`trnet tasks`), so the array indices are the task indices themselves (stage 2 is e.g. `--array=2-11`).
 *
 * The run folder is the only shared state: it records the job ids (`slurm/jobs.json`), the submitted scripts and the
 * per-element logs (`slurm/logs/<job>_<index>.out`); what is finished is what has an `evaluation.json`. Slurm is
 * driven through its own commands (sbatch, squeue, sacct, scancel) — no scheduler of our own.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExperimentConfig } from '../experiment/config.js';
import { resolveConfig } from '../experiment/config.js';
import { claimExperiment, listTasks, openExperiment, TASK_DESCRIPTION_FILE } from '../experiment/runner.js';
import type { Task } from '../experiment/tasks.js';

export interface SlurmOptions {
  partition?: string;
  /** e.g. `gpu:1` (`--gres`). */
  gres?: string;
  gpusPerTask?: number;
  cpusPerTask?: number;
  /** Slurm time format, e.g. `2:00:00`. */
  time?: string;
  /** e.g. `16G`. */
  mem?: string;
  /** At most this many elements of each array run at once (`%K`). */
  maxParallel?: number;
  /**
   * Absolute path of a `trnet-task` binary: the elements run it (no Node on the nodes) instead of `node
   * bin/trnet.mjs run-task`. It reads the task descriptions `trnet tasks <config> --describe` writes, so they must
   * exist before submitting.
   */
  taskBinary?: string;
  /** Resubmit only the tasks that are neither finished nor queued/running. */
  retryFailed?: boolean;
  /** Write and return the scripts without submitting them. */
  dryRun?: boolean;
}

export interface Submission {
  stage: 1 | 2;
  /** null for a dry run. */
  jobId: string | null;
  indices: number[];
  script: string;
  text: string;
  dependsOn: string | null;
}

export interface SubmitResult {
  dir: string;
  submissions: Submission[];
  /** Tasks left out: finished, or still queued/running (with --retry-failed). */
  skipped: { finished: number; active: number };
}

interface JobsFile {
  submissions: {
    at: string;
    stage: 1 | 2;
    jobId: string;
    indices: number[];
    script: string;
    dependsOn: string | null;
    options?: Omit<SlurmOptions, 'dryRun' | 'retryFailed'>;
  }[];
}

const ACTIVE = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
]);

function slurmError(message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code: 'TRNET_SLURM' });
}

/** Runs a Slurm client command; a missing command or a failure becomes TRNET_SLURM with its stderr. */
function slurmCommand(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; status?: number };
    if (e.code === 'ENOENT')
      throw slurmError(`expected the Slurm command ${cmd} on PATH, found none; run this on a Slurm login node (or install slurm-client).`, err);
    throw slurmError(`${cmd} ${args.join(' ')} failed (exit ${e.status ?? '?'}): ${(e.stderr ?? '').trim() || e.message}`, err);
  }
}

/** `[0,1,2,5,7,8]` → `0-2,5,7-8` (Slurm's --array syntax). */
export function arraySpec(indices: number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** The CLI entry the array elements run: this package's bin/trnet.mjs, by absolute path. */
export function trnetBin(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/trnet.mjs');
}

/** The batch script of one stage. The array indices are global task indices, so SLURM_ARRAY_TASK_ID needs no offset. */
export function batchScript(p: {
  name: string;
  stage: 1 | 2;
  indices: number[];
  configFile: string;
  outDir: string;
  workDir: string;
  dependsOn: string | null;
  options: SlurmOptions;
}): string {
  const o = p.options;
  const lines = [
    '#!/bin/bash',
    `# trnet experiment ${p.outDir}, stage ${p.stage} (${p.stage === 1 ? 'Baseline-c per fold and seed' : 'the variants that need their Baseline-c'}): ${p.indices.length} task(s).`,
    '# Each array element runs the task whose index (see `trnet tasks`) is SLURM_ARRAY_TASK_ID.',
    `#SBATCH --job-name=${quote(`${p.name}-s${p.stage}`)}`,
    `#SBATCH --array=${arraySpec(p.indices)}${o.maxParallel ? `%${o.maxParallel}` : ''}`,
    `#SBATCH --output=${quote(join(p.outDir, 'slurm', 'logs', '%A_%a.out'))}`,
    `#SBATCH --chdir=${quote(p.workDir)}`,
    '#SBATCH --ntasks=1',
  ];
  if (p.dependsOn) lines.push(`#SBATCH --dependency=afterok:${p.dependsOn}`);
  if (o.partition) lines.push(`#SBATCH --partition=${quote(o.partition)}`);
  if (o.gres) lines.push(`#SBATCH --gres=${quote(o.gres)}`);
  if (o.gpusPerTask) lines.push(`#SBATCH --gpus-per-task=${o.gpusPerTask}`);
  if (o.cpusPerTask) lines.push(`#SBATCH --cpus-per-task=${o.cpusPerTask}`);
  if (o.time) lines.push(`#SBATCH --time=${quote(o.time)}`);
  if (o.mem) lines.push(`#SBATCH --mem=${quote(o.mem)}`);
  lines.push(
    'set -euo pipefail',
    'echo "trnet: task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID on $(hostname) at $(date -Is)"',
    // exec: scancel's SIGTERM reaches the task runner itself (a retry resumes from last/). trnet-task takes the
    // index from SLURM_ARRAY_TASK_ID as run-task does.
    o.taskBinary ? `exec ${quote(o.taskBinary)} ${quote(p.outDir)}` : `exec ${quote(process.execPath)} ${quote(trnetBin())} run-task ${quote(p.configFile)}`,
    '',
  );
  return lines.join('\n');
}

function jobsPath(outDir: string): string {
  return join(outDir, 'slurm', 'jobs.json');
}

function readJobs(outDir: string): JobsFile {
  const file = jobsPath(outDir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as JobsFile) : { submissions: [] };
}

function writeJobs(outDir: string, jobs: JobsFile): void {
  const file = jobsPath(outDir);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(jobs, null, 2)}\n`);
  renameSync(tmp, file);
}

export interface ElementState {
  jobId: string;
  state: string;
  reason?: string;
}

/**
 * The scheduler's view of the recorded jobs: `<job>_<index>` → state. sacct when accounting is on (it remembers
 * finished jobs); squeue --states=all otherwise (it knows finished jobs for MinJobAge, 300 s by default).
 */
export function queueStates(jobIds: string[]): { elements: Map<string, ElementState>; source: 'sacct' | 'squeue' | 'none'; note?: string } {
  const elements = new Map<string, ElementState>();
  if (jobIds.length === 0) return { elements, source: 'none' };
  const wanted = new Set(jobIds);
  let note: string | undefined;
  try {
    const out = slurmCommand('sacct', ['-n', '-P', '-X', '-j', jobIds.join(','), '-o', 'JobID,State']);
    for (const line of out.split('\n')) {
      const [id, state] = line.trim().split('|');
      const m = /^(\d+)_(\d+)$/.exec(id ?? '');
      if (m && wanted.has(m[1]!) && state) elements.set(id!, { jobId: m[1]!, state: state.split(' ')[0]! });
    }
    // sacct lists a pending array as one line (123_[2-5]); squeue expands it, so merge squeue's view below.
  } catch (err) {
    note = `sacct unavailable (${(err as Error).message.split('\n')[0]}); states from squeue`;
  }
  const out = slurmCommand('squeue', ['-h', '-r', '-t', 'all', '-o', '%i|%T|%r']);
  for (const line of out.split('\n')) {
    const [id, state, reason] = line.trim().split('|');
    const m = /^(\d+)_(\d+)$/.exec(id ?? '');
    if (!m || !wanted.has(m[1]!) || !state) continue;
    const known = elements.get(id!);
    // squeue is current for jobs it still holds; sacct fills in the ones it has forgotten.
    if (!known || ACTIVE.has(state) || !ACTIVE.has(known.state)) elements.set(id!, { jobId: m[1]!, state, ...(reason && reason !== 'None' ? { reason } : {}) });
  }
  return { elements, source: note ? 'squeue' : 'sacct', ...(note ? { note } : {}) };
}

/** The latest submission of each task index: its job id and log file. */
function latestJobs(outDir: string, jobs: JobsFile): Map<number, { jobId: string; log: string }> {
  const latest = new Map<number, { jobId: string; log: string }>();
  for (const s of jobs.submissions) for (const i of s.indices) latest.set(i, { jobId: s.jobId, log: join(outDir, 'slurm', 'logs', `${s.jobId}_${i}.out`) });
  return latest;
}

/**
 * Task indices whose latest array element is queued or running. A stage-2 element whose dependency can never be met
 * (its stage-1 job failed) will not run: it counts as failed, and is cancelled so that the retry's element is the
 * only one left for its task.
 */
function activeIndices(outDir: string, jobs: JobsFile): Set<number> {
  const latest = latestJobs(outDir, jobs);
  const { elements } = queueStates([...new Set([...latest.values()].map((l) => l.jobId))]);
  const active = new Set<number>();
  const stuck: string[] = [];
  for (const [index, { jobId }] of latest) {
    const e = elements.get(`${jobId}_${index}`);
    if (e && ACTIVE.has(e.state) && e.reason === 'DependencyNeverSatisfied') stuck.push(`${jobId}_${index}`);
    else if (e && ACTIVE.has(e.state)) active.add(index);
  }
  if (stuck.length > 0) slurmCommand('scancel', stuck);
  return active;
}

/**
 * Writes the stage scripts into `<outDir>/slurm/` and submits them with `sbatch --parsable` (unless `dryRun`),
 * recording the job ids in `slurm/jobs.json`. With `retryFailed`, only tasks that are not finished and not queued or
 * running are submitted (stage 2 then depends on the new stage-1 job, or on the old one while it still runs), with
 * the resources of the previous submission unless given again.
 */
export function submitSlurm(configFile: string, config: ExperimentConfig, given: SlurmOptions = {}): SubmitResult {
  // A dry run writes nothing: it only reads the plan. A submission claims the folder first, so that a changed config
  // is refused here rather than in every array element.
  const { config: cfg, tasks } = given.dryRun ? { config: resolveConfig(config), tasks: listTasks(config) } : claimExperiment(config);
  const outDir = cfg.outDir;
  const slurmDir = join(outDir, 'slurm');
  if (!given.dryRun) mkdirSync(join(slurmDir, 'logs'), { recursive: true });
  const jobs = readJobs(outDir);
  if (!given.retryFailed && !given.dryRun && jobs.submissions.length > 0) {
    throw slurmError(
      `${outDir} was already submitted (jobs ${[...new Set(jobs.submissions.map((s) => s.jobId))].join(', ')}); expected a fresh run folder. Use --retry-failed to resubmit the tasks that did not finish, or \`trnet status ${outDir}\` to see them.`,
    );
  }
  const options = given.retryFailed ? retryOptions(jobs, given) : given;
  const finished = new Set(tasks.filter((t) => existsSync(join(t.dir, 'evaluation.json'))).map((t) => t.index));
  const active = options.retryFailed && !options.dryRun ? activeIndices(outDir, jobs) : new Set<number>();
  const todo = (stage: 1 | 2) => tasks.filter((t: Task) => t.stage === stage && !finished.has(t.index) && !active.has(t.index)).map((t) => t.index);
  if (options.taskBinary)
    checkTaskBinary(options.taskBinary, options.dryRun ? [] : tasks.filter((t) => !finished.has(t.index) && !active.has(t.index)), configFile);
  const name = `trnet-${outDir.split('/').filter(Boolean).pop() ?? 'run'}`;
  const submissions: Submission[] = [];
  const at = new Date().toISOString();
  const stamp = at.replace(/[:.]/g, '-');
  const resources = resourceOptions(options);

  /** Writes and submits one stage, and records its job id at once (a later failure must not lose it). */
  const submit = (stage: 1 | 2, indices: number[], dependsOn: string | null): string | null => {
    const text = batchScript({ name, stage, indices, configFile: resolve(configFile), outDir, workDir: process.cwd(), dependsOn, options });
    const script = join(slurmDir, `stage${stage}-${stamp}.sbatch`);
    let jobId: string | null = null;
    if (!options.dryRun) {
      writeFileSync(script, text);
      jobId = slurmCommand('sbatch', ['--parsable', script]).trim().split(';')[0]!;
      jobs.submissions.push({ at, stage, jobId, indices, script, dependsOn, options: resources });
      writeJobs(outDir, jobs);
    }
    submissions.push({ stage, jobId, indices, script, text, dependsOn });
    return jobId;
  };

  const stage1 = todo(1);
  const stage1Job = stage1.length > 0 ? (submit(1, stage1, null) ?? '<stage-1 job id>') : null;
  const stage2 = todo(2);
  if (stage2.length > 0) {
    // Stage 2 waits for the stage-1 job just submitted, or (on a retry) for a stage-1 job still queued or running.
    let dependsOn = stage1Job;
    if (!dependsOn) {
      const latest = latestJobs(outDir, jobs);
      const waiting = [...new Set(tasks.filter((t) => t.stage === 1 && active.has(t.index)).map((t) => latest.get(t.index)!.jobId))];
      dependsOn = waiting.length > 0 ? waiting.join(':') : null;
    }
    submit(2, stage2, dependsOn);
  }
  return { dir: outDir, submissions, skipped: { finished: finished.size, active: active.size } };
}

/**
 * Before submitting elements that run `trnet-task`: the binary is an executable file, and every task to submit has
 * its description (else each element would fail on the node, after queueing).
 */
function checkTaskBinary(binary: string, tasks: Task[], configFile: string): void {
  let executable: boolean;
  try {
    accessSync(binary, constants.X_OK);
    executable = statSync(binary).isFile();
  } catch {
    executable = false;
  }
  if (!executable)
    throw slurmError(
      `--task-binary ${binary}: expected an executable trnet-task binary, found ${existsSync(binary) ? 'a file that is not executable (or not a file)' : 'nothing'}. Build it with \`scripts/with-env.sh cargo build --release -p trnet-train --bin trnet-task --target x86_64-unknown-linux-gnu\` (docs/cluster.md) and pass its absolute path as the nodes see it.`,
    );
  const missing = tasks.filter((t) => !existsSync(join(t.dir, TASK_DESCRIPTION_FILE)));
  if (missing.length > 0)
    throw slurmError(
      `--task-binary: expected a task description (${TASK_DESCRIPTION_FILE}) for every task to submit, found none for ${missing.length} of ${tasks.length} (first: ${join(missing[0]!.dir, TASK_DESCRIPTION_FILE)}). Write them with \`trnet tasks ${configFile} --describe\` (it builds the feature stores), then submit again.`,
    );
}

type Resources = Omit<SlurmOptions, 'dryRun' | 'retryFailed'>;

function resourceOptions(o: SlurmOptions): Resources {
  const { dryRun: _d, retryFailed: _r, ...rest } = o;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Resources;
}

/** A retry asks for what the last submission asked for (partition, GPUs, time, …) unless the flags say otherwise. */
function retryOptions(jobs: JobsFile, given: SlurmOptions): SlurmOptions {
  const previous = { ...(jobs.submissions.at(-1)?.options ?? {}) };
  const now = resourceOptions(given);
  if (now.gres !== undefined || now.gpusPerTask !== undefined) {
    delete previous.gres;
    delete previous.gpusPerTask;
  }
  return { ...previous, ...now, dryRun: given.dryRun, retryFailed: given.retryFailed };
}

export type TaskRunState = 'finished' | 'running' | 'queued' | 'failed' | 'not submitted';

export interface StatusEntry {
  index: number;
  id: string;
  stage: 1 | 2;
  state: TaskRunState;
  /** The scheduler's state of its latest array element, if known. */
  slurm?: string;
  reason?: string;
  jobId?: string;
  log?: string;
}

export interface SlurmStatus {
  dir: string;
  tasks: StatusEntry[];
  counts: Record<TaskRunState, number>;
  source: 'sacct' | 'squeue' | 'none';
  note?: string;
}

/**
 * Each task's state from the run folder (finished = evaluation.json) and the scheduler: running / queued while its
 * latest array element is; failed when that element ended (or can never start) without a result.
 */
export function slurmStatus(dir: string): SlurmStatus {
  const state = openExperiment(dir);
  const outDir = state.config.outDir;
  const latest = latestJobs(outDir, readJobs(outDir));
  const hasSlurm = latest.size > 0;
  const q = hasSlurm
    ? queueStates([...new Set([...latest.values()].map((l) => l.jobId))])
    : { elements: new Map<string, ElementState>(), source: 'none' as const };
  const tasks = state.tasks.map((t): StatusEntry => {
    const job = latest.get(t.index);
    const e = job ? q.elements.get(`${job.jobId}_${t.index}`) : undefined;
    const base = {
      index: t.index,
      id: t.id,
      stage: t.stage,
      ...(job ? { jobId: job.jobId, log: job.log } : {}),
      ...(e ? { slurm: e.state, ...(e.reason ? { reason: e.reason } : {}) } : {}),
    };
    if (t.status === 'finished') return { ...base, state: 'finished' };
    if (!job) return { ...base, state: 'not submitted' };
    if (e?.state === 'RUNNING' || e?.state === 'COMPLETING' || e?.state === 'CONFIGURING') return { ...base, state: 'running' };
    if (e && ACTIVE.has(e.state) && e.reason !== 'DependencyNeverSatisfied') return { ...base, state: 'queued' };
    // Ended without evaluation.json, forgotten by the scheduler, or never able to start.
    return { ...base, state: 'failed' };
  });
  const counts: Record<TaskRunState, number> = { finished: 0, running: 0, queued: 0, failed: 0, 'not submitted': 0 };
  for (const t of tasks) counts[t.state]++;
  return { dir: outDir, tasks, counts, source: q.source, ...('note' in q && q.note ? { note: q.note } : {}) };
}
