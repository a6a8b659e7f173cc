/** `trnet train <config>`, `trnet report <dir>` and `trnet init [file]`: experiments from the command line. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { isAbortError } from '../errors.js';
import { ConfigError, type ExperimentConfig } from '../experiment/config.js';
import { describeTasks, type ExperimentProgress, listTasks, runExperiment, runExperimentTask, writeReports } from '../experiment/runner.js';

/** Reads a JSON config; whole-line `//` comments (as `trnet init` writes) are allowed. */
export function readConfigFile(file: string): ExperimentConfig {
  if (!existsSync(file)) throw new ConfigError([`${file}: no such config file; write one with \`trnet init ${file}\``]);
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => (/^\s*\/\//.test(line) ? '' : line))
    .join('\n');
  try {
    return JSON.parse(text) as ExperimentConfig;
  } catch (err) {
    throw new ConfigError([`${file}: expected JSON (whole-line // comments allowed), found a syntax error: ${(err as Error).message}`]);
  }
}

const fmtEta = (s: number | null) =>
  s === null || !Number.isFinite(s) ? '?' : s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`;

/** Progress as bars on a terminal, as occasional lines otherwise, or as JSON lines with --json. */
function progressPrinter(json: boolean, out: NodeJS.WriteStream): { onProgress: (p: ExperimentProgress) => void; stop: () => void } {
  if (json) return { onProgress: (p) => out.write(`${JSON.stringify(p)}\n`), stop: () => {} };
  if (!out.isTTY) {
    let last = '';
    return {
      onProgress: (p) => {
        const line =
          p.stage === 'task'
            ? `task ${p.tasksDone}/${p.tasksTotal} ${p.status}: ${p.task} (ETA ${fmtEta(p.etaSeconds)})`
            : p.stage === 'features' && p.done === p.total
              ? `features (${p.set}): ${p.total} utterances${p.cached ? ' (cached)' : ''}`
              : '';
        if (line && line !== last) out.write(`${line}\n`);
        last = line || last;
      },
      stop: () => {},
    };
  }
  const bars = new cliProgress.MultiBar(
    { stream: out, clearOnComplete: false, hideCursor: true, format: '{label} [{bar}] {value}/{total} {detail}' },
    cliProgress.Presets.shades_classic,
  );
  const tasks = bars.create(1, 0, { label: 'tasks      ', detail: '' });
  const stage = bars.create(1, 0, { label: 'features   ', detail: '' });
  return {
    onProgress: (p) => {
      if (p.stage === 'features') {
        stage.setTotal(p.total);
        stage.update(p.done, { label: 'features   ', detail: `${p.set}${p.cached ? ' (cached)' : ''}` });
      } else if (p.stage === 'train') {
        tasks.setTotal(p.tasksTotal);
        stage.setTotal(p.total);
        stage.update(p.done, {
          label: 'training   ',
          detail: `${p.task} epoch ${p.epoch} loss ${p.loss.toFixed(3)}${p.valUar !== undefined ? ` val UAR ${(100 * p.valUar).toFixed(1)}` : ''} ETA ${fmtEta(p.etaSeconds)}`,
        });
      } else if (p.stage === 'evaluate') {
        stage.setTotal(p.total);
        stage.update(p.done, { label: 'evaluating ', detail: `${p.task} ${p.condition}` });
      } else {
        tasks.setTotal(p.tasksTotal);
        tasks.update(p.tasksDone, { detail: `ETA ${fmtEta(p.etaSeconds)}` });
      }
    },
    stop: () => bars.stop(),
  };
}

/** Runs (or resumes) the experiment of a config file. Ctrl-C stops cleanly; the same command resumes. */
export async function trainCommand(file: string, opts: { json: boolean; outDir?: string }, out = process.stdout, err = process.stderr): Promise<number> {
  const config = readConfigFile(file);
  if (opts.outDir) config.outDir = opts.outDir;
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  const progress = progressPrinter(opts.json, opts.json ? out : err);
  try {
    const result = await runExperiment(config, { onProgress: progress.onProgress, signal: controller.signal });
    progress.stop();
    if (opts.json) out.write(`${JSON.stringify({ stage: 'done', dir: result.dir, files: result.files, summary: result.summary })}\n`);
    else out.write(`\n${result.table}\n\nreport: ${result.files.markdown}\nfigures: ${result.files.html}\n`);
    return 0;
  } catch (e) {
    progress.stop();
    if (isAbortError(e)) {
      err.write(`\ntrnet train: stopped; run the same command again to resume.\n`);
      return 130;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

export async function reportCommand(dir: string, out: Pick<NodeJS.WriteStream, 'write'> = process.stdout): Promise<number> {
  const result = await writeReports(dir);
  out.write(
    `${result.table}\n\n${result.tasks.length} of ${result.tasksTotal} tasks finished\nreport: ${result.files.markdown}\nfigures: ${result.files.html}\n`,
  );
  return 0;
}

const EXAMPLE = `// trnet experiment config (JSON; whole-line // comments are allowed). Defaults are the paper's protocol.
// Every key below except outDir, corpus and noise is optional; delete what you do not change.
{
  // The run folder: resolved config, feature stores, one folder per task, results.json, predictions.csv, RESULTS.md.
  "outDir": "runs/ravdess",
  // reader: iemocap | ravdess | emodb | crema-d | manifest (a CSV/JSONL file with path,label,speaker[,session]).
  "corpus": { "reader": "ravdess", "path": "../shared/data/ravdess", "classes": ["angry", "happy", "neutral", "sad"] },
  // matched: used in training and testing (paper: ESC-50); unmatched: testing only (paper: MUSAN).
  // Readers: esc50 | musan | folder. split "disjoint" keeps test noise recordings out of training.
  "noise": {
    "matched": { "reader": "esc50", "path": "../shared/data/esc50", "folds": [4] },
    "unmatched": { "reader": "folder", "path": "../shared/data/noise-speechcommands", "name": "speech-commands" },
    "split": "disjoint",
    "testFraction": 0.2
  },
  "snrsDb": [20, 15, 10, 5, 0],
  // Leave-one-speaker-out; the session partner validates. Choose a subset with testSpeakers or limit.
  "folds": { "limit": 2 },
  "variants": ["baseline-c", "baseline-n", "baseline-e", "trnet", "trnet-no-low", "trnet-no-high"],
  "seeds": [1, 2, 3],
  "features": { "frames": 500, "pad": "zero" },
  // clean+noisy (paper: IEM + IEM-ESC) or authors (each item's condition drawn from clean and the SNRs).
  "trainingNoise": "clean+noisy",
  // classical (weight-free) | gtcrn (with "model": an ONNX export) | cmgan | card.
  "enhancer": { "kind": "classical" },
  "training": { "epochs": 80, "batchSize": 32, "learningRate": 0.001 },
  "device": "cpu"
}
`;

export function initCommand(file: string, out: Pick<NodeJS.WriteStream, 'write'> = process.stdout): number {
  if (existsSync(file)) throw new ConfigError([`${file}: already exists; choose another name or delete it`]);
  writeFileSync(file, EXAMPLE);
  out.write(`wrote ${file}; edit the paths, then run: trnet train ${file}\n`);
  return 0;
}

/** `trnet tasks <config>`: the task list with ids, stages and dependencies (the index is the job-array index). */
export function tasksCommand(file: string, opts: { json: boolean }, out: Pick<NodeJS.WriteStream, 'write'> = process.stdout): number {
  const tasks = listTasks(readConfigFile(file));
  if (opts.json) out.write(`${JSON.stringify(tasks.map((t) => ({ index: t.index, id: t.id, stage: t.stage, needs: t.needs, dir: t.dir })))}\n`);
  else {
    out.write('index  stage  task  (needs)\n');
    for (const t of tasks) out.write(`${String(t.index).padStart(5)}  ${t.stage}      ${t.id}${t.needs ? `  (${t.needs})` : ''}\n`);
    out.write(`${tasks.length} tasks: ${tasks.filter((t) => t.stage === 1).length} in stage 1, ${tasks.filter((t) => t.stage === 2).length} in stage 2\n`);
  }
  return 0;
}

/**
 * `trnet tasks <config> --describe`: builds the feature stores and writes every task's task.json for trnet-task
 * (the Node-free runner); prints the files (one JSON line per task with --json).
 */
export async function describeCommand(file: string, opts: { json: boolean }, out = process.stdout, err = process.stderr): Promise<number> {
  const config = readConfigFile(file);
  const progress = progressPrinter(opts.json, opts.json ? out : err);
  try {
    const { tasks, files } = await describeTasks(config, { onProgress: progress.onProgress });
    progress.stop();
    tasks.forEach((t, i) => {
      out.write(
        opts.json
          ? `${JSON.stringify({ index: t.index, id: t.id, stage: t.stage, description: files[i] })}\n`
          : `${String(t.index).padStart(5)}  ${files[i]}\n`,
      );
    });
    if (!opts.json) out.write(`${tasks.length} task descriptions written; run one with: trnet-task <file> (or trnet-task <outDir> --index N)\n`);
    return 0;
  } catch (e) {
    progress.stop();
    throw e;
  }
}

/**
 * The array index of this process: --index, else SLURM_ARRAY_TASK_ID (Slurm job arrays), else JOB_COMPLETION_INDEX
 * (Kubernetes Indexed Jobs).
 */
export function taskIndex(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const [source, raw] =
    flag !== undefined
      ? ['--index', flag]
      : env.SLURM_ARRAY_TASK_ID !== undefined
        ? ['SLURM_ARRAY_TASK_ID', env.SLURM_ARRAY_TASK_ID]
        : env.JOB_COMPLETION_INDEX !== undefined
          ? ['JOB_COMPLETION_INDEX', env.JOB_COMPLETION_INDEX]
          : [null, undefined];
  if (source === null) throw new ConfigError(['task index: expected --index N, or SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX in the environment, found none']);
  if (!/^\d+$/.test(raw ?? '')) throw new ConfigError([`${source}: expected a non-negative integer, found ${JSON.stringify(raw)}`]);
  return Number(raw);
}

/** `trnet run-task <config> [--index N]`: one task of the experiment. */
export async function runTaskCommand(file: string, opts: { index?: string; json: boolean }, out = process.stdout, err = process.stderr): Promise<number> {
  const config = readConfigFile(file);
  const index = taskIndex(opts.index);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  // Slurm's scancel sends SIGTERM: stop cleanly so the task's last checkpoint is written and a retry resumes.
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = progressPrinter(opts.json, opts.json ? out : err);
  try {
    const r = await runExperimentTask(config, index, { onProgress: progress.onProgress, signal: controller.signal });
    progress.stop();
    out.write(
      opts.json
        ? `${JSON.stringify({ stage: 'done', task: r.task, status: r.status, metrics: r.result.metrics })}\n`
        : `task ${index} (${r.task}): ${r.status}\n`,
    );
    return 0;
  } catch (e) {
    progress.stop();
    if (isAbortError(e)) {
      err.write(`\ntrnet run-task: stopped; run it again to resume.\n`);
      return 130;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
