/**
 * Time per epoch and per task at the paper's sizes (500 frames × 80 bins, channels 32/64/128/256, batch 32) on this
 * machine, against PyTorch eager doing the same training step in the same run, and the IEMOCAP task those times
 * give (docs/results/scale.md):
 *
 *   trnet   `crates/trnet-train/examples/epoch_speed.rs`: real `train` calls (Baseline-c, then TRNet against it)
 *           for `--epochs` epochs on `--utterances` random utterances read from a feature store on disk, as an
 *           experiment's tasks read them; the steady step time inside the epoch (batch reads included), the rest
 *           of the epoch (validation, checkpoints), and the evaluation rate of the trained checkpoint
 *   torch   `scripts/reference/torch_train_step.py`: the same model's bare training step and inference in PyTorch
 *           eager (data already in memory), with the malloc settings bench/train.ts calls "torch env"
 *
 *   npx tsx bench/epoch.ts [--utterances 64] [--epochs 1] [--threads 2] [--steps 3] [--rounds 1]
 *
 * `--utterances` must be a multiple of 32 (full batches; the step time is taken over steps after the first).
 * Rounds run trnet and torch one after the other. Per figure: the median over rounds. Ratios: PyTorch time /
 * trnet time (> 1: trnet faster), for wall time and for process CPU time (the steadier figure on a machine shared
 * with other work). The projection multiplies the measured per-step and per-item times by an IEMOCAP fold's
 * counts (5531 utterances, training speakers 8/10 of them, validation and test 1/10 each; Baseline-c on clean
 * items, the others on clean + one noisy copy; 80 epochs; testing clean and 5 SNRs × 2 noises), twice: from wall
 * times as measured, and from CPU times divided by the thread count (what a machine whose cores are free gives).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, table } from './lib/timing.js';

const { values } = parseArgs({
  options: {
    utterances: { type: 'string', default: '64' },
    epochs: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '1' },
  },
});
const threads = Number(values.threads);
const env = execFileSync('bash', ['-c', 'source scripts/env.sh && echo "$TRNET_VENV|$CARGO_TARGET_DIR"'], { cwd: repoRoot, encoding: 'utf8' })
  .trim()
  .split('|');
const [venv, target] = [env[0]!, env[1]!];
execFileSync(
  'bash',
  ['scripts/with-env.sh', 'cargo', 'build', '--release', '-q', '-p', 'trnet-train', '--example', 'epoch_speed', '--target', 'x86_64-unknown-linux-gnu'],
  { cwd: repoRoot, stdio: 'inherit' },
);
const TUNED = { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MALLOC_')));
const jsonLines = (out: string) =>
  out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

interface Epoch {
  variant: string;
  train_items: number;
  val_items: number;
  steps: number;
  epoch_s: number[];
  train_step_s: number;
  train_step_cpu_s: number;
  validation_and_checkpoints_s: number;
  eval_items_per_s: number;
  eval_cpu_items_per_s: number;
}
interface Torch {
  impl: string;
  train_step_s: number;
  train_step_cpu_s: number;
  infer_utt_per_s: number;
  infer_cpu_utt_per_s: number;
}
const VARIANTS = ['baseline-c', 'trnet'] as const;
const ours: Record<string, Epoch[]> = { 'baseline-c': [], trnet: [] };
const theirs: Record<string, Torch[]> = { 'baseline-c': [], trnet: [] };
for (let r = 0; r < Number(values.rounds); r++) {
  const out = execFileSync(
    join(target, 'x86_64-unknown-linux-gnu/release/examples/epoch_speed'),
    ['--utterances', values.utterances, '--epochs', values.epochs, '--threads', values.threads, '--variants', VARIANTS.join(',')],
    { encoding: 'utf8', env: cleanEnv },
  );
  for (const e of jsonLines(out) as unknown as Epoch[]) ours[e.variant]!.push(e);
  console.error(`round ${r + 1} trnet: ${out.trim()}`);
  for (const v of VARIANTS) {
    const t = jsonLines(
      execFileSync(
        join(venv, 'bin/python'),
        [join(repoRoot, 'scripts/reference/torch_train_step.py'), '--threads', values.threads, '--steps', values.steps, '--variant', v],
        { encoding: 'utf8', env: { ...cleanEnv, ...TUNED }, stdio: ['ignore', 'pipe', 'ignore'] },
      ),
    ).pop() as unknown as Torch;
    theirs[v]!.push(t);
    console.error(`round ${r + 1} torch ${v}: ${JSON.stringify(t)}`);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '–');
const med = <T>(list: T[], k: keyof T) => median(list.map((x) => x[k] as number));

console.log(
  `Paper-size TRNet (500×80, 32/64/128/256, batch 32), ${threads} thread(s), ${values.utterances} utterances × ${values.epochs} epoch(s) from a feature store, ${values.rounds} round(s); ${theirs.trnet![0]!.impl} with tuned malloc\n`,
);
console.log(
  table([
    [
      '',
      'epoch s',
      'steps',
      'step s in epoch',
      'step CPU s',
      'torch step s',
      'torch CPU s',
      'ratio wall',
      'ratio CPU',
      'eval items/s',
      'torch infer/s',
      'ratio',
    ],
    ...VARIANTS.map((v) => {
      const o = ours[v]!;
      const t = theirs[v]!;
      return [
        v,
        f(median(o.map((e) => e.epoch_s.reduce((a, b) => a + b, 0) / e.epoch_s.length))),
        o[0]!.steps,
        f(med(o, 'train_step_s')),
        f(med(o, 'train_step_cpu_s')),
        f(med(t, 'train_step_s')),
        f(med(t, 'train_step_cpu_s')),
        f(med(t, 'train_step_s') / med(o, 'train_step_s')),
        f(med(t, 'train_step_cpu_s') / med(o, 'train_step_cpu_s')),
        f(med(o, 'eval_items_per_s'), 1),
        f(med(t, 'infer_utt_per_s'), 1),
        f(med(o, 'eval_items_per_s') / med(t, 'infer_utt_per_s')),
      ];
    }),
  ]),
);

// IEMOCAP: one fold's counts (see the header), 80 epochs.
const UTTS = 5531;
const EPOCHS = 80;
const SNRS = 5;
const fold = (v: string) => {
  const k = v === 'baseline-c' ? 1 : 2;
  return { train: Math.round((UTTS * 8) / 10) * k, val: Math.round(UTTS / 10) * k, test: Math.round(UTTS / 10) * (1 + 2 * SNRS) };
};
const project = (stepS: number, itemsPerS: number, v: string) => {
  const n = fold(v);
  const epoch = Math.ceil(n.train / 32) * stepS + n.val / itemsPerS;
  return { epoch, task: EPOCHS * epoch + n.test / itemsPerS };
};
const h = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${(s / 60).toFixed(1)} min`);
const rows: (string | number)[][] = [
  ['IEMOCAP fold (80 epochs)', 'train items', 'epoch (wall)', 'task (wall)', 'epoch (CPU / threads)', 'task (CPU / threads)'],
];
const perTask: Record<string, { wall: number; cpu: number }> = {};
for (const v of VARIANTS) {
  const o = ours[v]!;
  const wall = project(med(o, 'train_step_s'), med(o, 'eval_items_per_s'), v);
  const cpu = project(med(o, 'train_step_cpu_s') / threads, med(o, 'eval_cpu_items_per_s') * threads, v);
  perTask[v] = { wall: wall.task, cpu: cpu.task };
  rows.push([v, fold(v).train, h(wall.epoch), h(wall.task), h(cpu.epoch), h(cpu.task)]);
}
console.log(`\n${table(rows)}`);
// The grid: per fold × seed one Baseline-c and five stage-2 variants (their steps cost about TRNet's or less).
const grid = (k: 'wall' | 'cpu') => 30 * (perTask['baseline-c']![k] + 5 * perTask.trnet![k]);
console.log(
  `\nfull grid (10 folds × 3 seeds × 6 variants, stage-2 variants at TRNet's cost): ${h(grid('wall'))} from wall times, ${h(grid('cpu'))} from CPU times / ${threads} thread(s), on one such process`,
);
