/** The `trnet` command line. */
import { parseArgs } from 'node:util';
import type { TimelineOptions } from '../predict.js';
import { TIMELINE_OPTIONS } from '../validate.js';
import { statusCommand, submitCommand } from './cluster.js';
import { doctor } from './doctor.js';
import { checkEnhancer, enhanceFiles, planOutputs, prepareOutDir } from './enhance.js';
import { describeCommand, initCommand, reportCommand, runTaskCommand, tasksCommand, trainCommand } from './experiment.js';
import { exportCommand } from './export.js';
import { predictCommand } from './predict.js';
import { isUsageError, UsageError } from './usage.js';

const USAGE = `usage: trnet <command> [options]

commands:
  doctor [--json] [--bench] [--device cpu|cuda|cuda:N|auto]
      print the native runtime (trnet, libtorch, CUDA, ONNX Runtime, threads) and check it works;
      --bench also measures libtorch matmul throughput
  enhance <audio files...> --out DIR [--kind classical|gtcrn|cmgan|card] [--model FILE] [--card FILE]
          [--cache DIR] [--threads N] [--json]
      enhance 16 kHz speech with an SE front end (default: the weight-free classical enhancer) and write
      DIR/<name>.enhanced.wav; when two inputs share a name, outputs mirror the inputs' folders below their
      common parent (DIR/<folder>/<name>.enhanced.wav); files that fail are reported and the rest are
      still written
  train <config.json> [--out DIR] [--json]
      run an experiment (variants × leave-one-speaker-out folds × seeds, evaluated clean and in matched and
      unmatched noise) with progress bars; --json prints line-delimited events; Ctrl-C stops, rerunning resumes
  report <dir>
      regenerate results.json, predictions.csv, RESULTS.md and report.html of an experiment folder (finished
      or partial)
  init [file]
      write a commented example experiment config (default trnet.config.json)
  tasks <config.json> [--json] [--describe]
      list the experiment's tasks: job-array index, stage (1: Baseline-c; 2: the variants that need it), id;
      --describe also builds the feature stores and writes each task's task.json, which the Node-free
      runner trnet-task reads (GPU machines and cluster nodes without Node: docs/cluster.md)
  run-task <config.json> [--index N] [--json]
      run one task into the shared run folder (index from --index, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX);
      a finished task is a no-op
  predict <model> <audio files...> [--json] [--allow-different-enhancer] [--threads N]
          [--precision fp32|bf16] [--timeline [--window S] [--hop S]]
      predict the emotion (and the noise level c) of each file with a trained model: an experiment task folder
      (tasks/<fold>/seed-<n>/<variant>) or its run/best; prints a table, or one JSON line per file with --json;
      --timeline: one row (JSON line) per window of S seconds every S seconds, silent windows marked;
      --precision bf16: the network's convolutions in bfloat16 (faster on CPUs with AVX-512 BF16; probabilities
      differ from fp32, the default, by up to about 0.01)
  export <model> --onnx FILE [--json] [--allow-different-enhancer]
      write the model's network (log-Mel frames of the input and of the SE output → class probabilities and c)
      as one ONNX graph, with class names, feature settings and the SE front end in its metadata
  submit <config.json> --slurm [--partition P] [--gres G | --gpus-per-task N] [--cpus-per-task N] [--time T]
         [--mem M] [--max-parallel K] [--task-binary FILE] [--dry-run] [--retry-failed] [--json]
      run the tasks as two Slurm job arrays (stage 2 after stage 1 succeeded); --dry-run prints the scripts;
      --retry-failed resubmits only the tasks that are neither finished nor queued/running;
      --task-binary: the elements run that trnet-task binary (nodes without Node) on the descriptions
      \`trnet tasks <config> --describe\` wrote
  status <dir> [--json]
      finished / running / queued / failed tasks of a run folder (with sacct or squeue), and failed tasks' logs

exit codes: 0 all done, 1 some input failed (reported), 2 usage error (nothing was run), 130 stopped by
Ctrl-C or SIGTERM (rerun to resume)
`;

/** Runs a command; usage errors print the usage and give exit code 2 before any work starts. */
export async function main(argv: string[], err: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    return await command(argv);
  } catch (e) {
    if (!isUsageError(e)) throw e;
    err.write(`trnet: ${e.message}\n\n${USAGE}`);
    return 2;
  }
}

/** --threads: a whole number of threads, 1..1024 (Number('abc') or '-3' must not slip through). */
function threads(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= 1024)) throw new UsageError(`--threads: expected a whole number from 1 to 1024, found ${JSON.stringify(value)}`);
  return n;
}

/** --window / --hop in seconds, checked as timeline() checks them, so a bad value is a usage error (exit 2). */
function timelineOptions(window: string | undefined, hop: string | undefined): TimelineOptions {
  const seconds = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = /^[0-9]*\.?[0-9]+$/.test(v) ? Number(v) : NaN;
    if (!Number.isFinite(n)) throw new UsageError(`--${flag}: expected seconds such as 2 or 0.5, found ${JSON.stringify(v)}`);
    return n;
  };
  const options: TimelineOptions = {};
  const w = seconds('window', window);
  const h = seconds('hop', hop);
  if (w !== undefined) options.window = w;
  if (h !== undefined) options.hop = h;
  try {
    TIMELINE_OPTIONS(options, 'timeline');
  } catch (e) {
    throw new UsageError(`predict: ${(e as Error).message.replace(/^timeline\.(\w+)/, '--$1')}`);
  }
  return options;
}

async function command(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'doctor': {
      const { values } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean', default: false }, bench: { type: 'boolean', default: false }, device: { type: 'string', default: 'cpu' } },
        strict: true,
      });
      return doctor({ json: values.json, bench: values.bench, device: values.device });
    }
    case 'enhance': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          out: { type: 'string' },
          kind: { type: 'string', default: 'classical' },
          model: { type: 'string' },
          card: { type: 'string' },
          cache: { type: 'string' },
          threads: { type: 'string' },
          json: { type: 'boolean', default: false },
        },
        strict: true,
      });
      if (!values.out || positionals.length === 0) throw new UsageError('enhance: expected audio files and --out DIR');
      const enhancer = { kind: values.kind, model: values.model, card: values.card, cacheDir: values.cache, intraThreads: threads(values.threads) };
      // Everything that can be wrong with the command is found before any file is decoded.
      const outputs = planOutputs(positionals, values.out);
      checkEnhancer(enhancer);
      prepareOutDir(values.out);
      return enhanceFiles({ inputs: positionals, outDir: values.out, outputs, json: values.json, enhancer });
    }
    case 'train': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { out: { type: 'string' }, json: { type: 'boolean', default: false } },
        strict: true,
      });
      if (positionals.length !== 1) {
        throw new UsageError('train: expected one config file');
      }
      return trainCommand(positionals[0]!, { json: values.json, outDir: values.out });
    }
    case 'report': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {}, strict: true });
      if (positionals.length !== 1) {
        throw new UsageError('report: expected one experiment folder');
      }
      return reportCommand(positionals[0]!);
    }
    case 'tasks': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: 'boolean', default: false }, describe: { type: 'boolean', default: false } },
        strict: true,
      });
      if (positionals.length !== 1) {
        throw new UsageError('tasks: expected one config file');
      }
      if (values.describe) return describeCommand(positionals[0]!, { json: values.json });
      return tasksCommand(positionals[0]!, { json: values.json });
    }
    case 'run-task': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { index: { type: 'string' }, json: { type: 'boolean', default: false } },
        strict: true,
      });
      if (positionals.length !== 1) {
        throw new UsageError('run-task: expected one config file');
      }
      return runTaskCommand(positionals[0]!, { index: values.index, json: values.json });
    }
    case 'predict': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          json: { type: 'boolean', default: false },
          'allow-different-enhancer': { type: 'boolean', default: false },
          threads: { type: 'string' },
          precision: { type: 'string' },
          timeline: { type: 'boolean', default: false },
          window: { type: 'string' },
          hop: { type: 'string' },
        },
        strict: true,
      });
      if (positionals.length < 2) throw new UsageError('predict: expected a model folder and at least one audio file');
      if (!values.timeline && (values.window !== undefined || values.hop !== undefined))
        throw new UsageError('predict: --window and --hop apply to --timeline; add --timeline');
      if (values.precision !== undefined && values.precision !== 'fp32' && values.precision !== 'bf16')
        throw new UsageError(`predict: --precision: expected fp32 or bf16, found ${JSON.stringify(values.precision)}`);
      const timeline = values.timeline ? timelineOptions(values.window, values.hop) : undefined;
      return predictCommand(positionals[0]!, positionals.slice(1), {
        json: values.json,
        allowDifferentEnhancer: values['allow-different-enhancer'],
        threads: threads(values.threads),
        precision: values.precision,
        timeline,
      });
    }
    case 'export': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { onnx: { type: 'string' }, json: { type: 'boolean', default: false }, 'allow-different-enhancer': { type: 'boolean', default: false } },
        strict: true,
      });
      if (positionals.length !== 1) throw new UsageError('export: expected one model folder');
      if (!values.onnx) throw new UsageError('export: expected --onnx FILE (the only export format)');
      return exportCommand(positionals[0]!, { onnx: values.onnx, json: values.json, allowDifferentEnhancer: values['allow-different-enhancer'] });
    }
    case 'submit': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          slurm: { type: 'boolean', default: false },
          partition: { type: 'string' },
          gres: { type: 'string' },
          'gpus-per-task': { type: 'string' },
          'cpus-per-task': { type: 'string' },
          time: { type: 'string' },
          mem: { type: 'string' },
          'max-parallel': { type: 'string' },
          'task-binary': { type: 'string' },
          'dry-run': { type: 'boolean', default: false },
          'retry-failed': { type: 'boolean', default: false },
          json: { type: 'boolean', default: false },
        },
        strict: true,
      });
      if (positionals.length !== 1) {
        throw new UsageError('submit: expected one config file');
      }
      const {
        'gpus-per-task': gpusPerTask,
        'cpus-per-task': cpusPerTask,
        'max-parallel': maxParallel,
        'task-binary': taskBinary,
        'dry-run': dryRun,
        'retry-failed': retryFailed,
        ...v
      } = values;
      return submitCommand(positionals[0]!, { ...v, gpusPerTask, cpusPerTask, maxParallel, taskBinary, dryRun, retryFailed });
    }
    case 'status': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean', default: false } }, strict: true });
      if (positionals.length !== 1) {
        throw new UsageError('status: expected one experiment folder');
      }
      return statusCommand(positionals[0]!, { json: values.json });
    }
    case 'init': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {}, strict: true });
      if (positionals.length > 1) {
        throw new UsageError('init: expected at most one file name');
      }
      return initCommand(positionals[0] ?? 'trnet.config.json');
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}
