/**
 * Training-speed benchmark: one training step and inference throughput of the paper-size TRNet (batch 32,
 * 500 frames × 80 bins, channels 32/64/128/256) in trnet (tch, `crates/trnet-train/examples/train_speed.rs`)
 * against the same model in PyTorch eager (`scripts/reference/torch_train_step.py`), same threads, same run,
 * each with glibc malloc as it comes and tuned:
 *
 *   trnet  default   `--malloc default`: trnet leaves malloc alone
 *   trnet  fast      `--malloc fast`: trnet's run-time tuning (mallopt, `trnet_runtime::allocator`), the
 *                    addon's default for jobs; the work runs on a worker thread as in the addon
 *   torch  default   python as it comes
 *   torch  env       python with MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=33554432
 *                    MALLOC_TRIM_THRESHOLD_=4000000000 MALLOC_TOP_PAD_=536870912 at process start (what a
 *                    launcher can do; the best case for PyTorch)
 *
 *   npx tsx bench/train.ts [--threads 2] [--steps 5] [--repeats 2] [--variant trnet] [--device cpu] [--only both|train|infer]
 *
 * The four processes run one after another, `--repeats` rounds interleaved. Per row: the median over rounds of
 * each process's median (the mean of the middle two for an even count), and the best single run. CPU columns divide by process CPU time instead of wall time
 * (steadier on a shared machine). Ratios: PyTorch time / trnet time for a step, trnet / PyTorch for
 * utterances per second (> 1: trnet faster), trnet fast against torch env and trnet default against torch
 * default.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, table } from './lib/timing.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '5' },
    repeats: { type: 'string', default: '2' },
    variant: { type: 'string', default: 'trnet' },
    device: { type: 'string', default: 'cpu' },
    only: { type: 'string', default: 'both' },
  },
});
const args = ['--threads', values.threads, '--steps', values.steps, '--variant', values.variant, '--device', values.device, '--only', values.only];
const env = execFileSync('bash', ['-c', 'source scripts/env.sh && echo "$TRNET_VENV|$CARGO_TARGET_DIR"'], { cwd: repoRoot, encoding: 'utf8' })
  .trim()
  .split('|');
const [venv, target] = [env[0]!, env[1]!];
const TUNED = { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };

execFileSync(
  'bash',
  ['scripts/with-env.sh', 'cargo', 'build', '--release', '-q', '-p', 'trnet-train', '--example', 'train_speed', '--target', 'x86_64-unknown-linux-gnu'],
  { cwd: repoRoot, stdio: 'inherit' },
);

interface Result {
  impl: string;
  train_step_s: number | null;
  train_step_min_s: number | null;
  train_step_cpu_s: number | null;
  train_step_faults: number | null;
  infer_utt_per_s: number | null;
  infer_utt_per_s_best: number | null;
  infer_cpu_utt_per_s: number | null;
  infer_faults: number | null;
  peak_rss_mib: number;
}
const lastJson = (out: string): Result =>
  JSON.parse(
    out
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop()!,
  );
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MALLOC_')));
const runs: Record<string, () => Result> = {
  'trnet default': () =>
    lastJson(
      execFileSync(join(target, 'x86_64-unknown-linux-gnu/release/examples/train_speed'), [...args, '--malloc', 'default'], {
        encoding: 'utf8',
        env: cleanEnv,
      }),
    ),
  'trnet fast': () =>
    lastJson(
      execFileSync(join(target, 'x86_64-unknown-linux-gnu/release/examples/train_speed'), [...args, '--malloc', 'fast'], { encoding: 'utf8', env: cleanEnv }),
    ),
  'torch default': () =>
    lastJson(
      execFileSync(join(venv, 'bin/python'), [join(repoRoot, 'scripts/reference/torch_train_step.py'), ...args], {
        encoding: 'utf8',
        env: cleanEnv,
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ),
  'torch env': () =>
    lastJson(
      execFileSync(join(venv, 'bin/python'), [join(repoRoot, 'scripts/reference/torch_train_step.py'), ...args], {
        encoding: 'utf8',
        env: { ...cleanEnv, ...TUNED },
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ),
};
const results: Record<string, Result[]> = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
for (let r = 0; r < Number(values.repeats); r++) {
  for (const [name, run] of Object.entries(runs)) {
    const res = run();
    results[name]!.push(res);
    console.error(`round ${r + 1} ${name}: ${JSON.stringify(res)}`);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
type Key = keyof Omit<Result, 'impl'>;
const med = (name: string, k: Key) => median(results[name]!.map((r) => r[k] as number));
const best = (name: string, k: Key, better: 'min' | 'max') => (better === 'min' ? Math.min : Math.max)(...results[name]!.map((r) => r[k] as number));
const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '–');

console.log(
  `TRNet (${values.variant}), batch 32, 500×80, ${values.threads} thread(s), device ${values.device}, ${values.repeats} round(s) of ${values.steps} timed runs`,
);
console.log(`${results['trnet fast']![0]!.impl} vs ${results['torch env']![0]!.impl}\n`);
const train = values.only !== 'infer';
const infer = values.only !== 'train';
console.log(
  table([
    [
      '',
      'train step s (median / best)',
      'train CPU s',
      'faults/step',
      'inference utt/s (median / best)',
      'inference CPU utt/s',
      'faults/batch',
      'peak RSS MiB',
    ],
    ...Object.keys(runs).map((name) => [
      name,
      train ? `${f(med(name, 'train_step_s'))} / ${f(best(name, 'train_step_min_s', 'min'))}` : '–',
      train ? f(med(name, 'train_step_cpu_s')) : '–',
      train ? f(med(name, 'train_step_faults'), 0) : '–',
      infer ? `${f(med(name, 'infer_utt_per_s'), 1)} / ${f(best(name, 'infer_utt_per_s_best', 'max'), 1)}` : '–',
      infer ? f(med(name, 'infer_cpu_utt_per_s'), 1) : '–',
      infer ? f(med(name, 'infer_faults'), 0) : '–',
      f(Math.max(...results[name]!.map((r) => r.peak_rss_mib)), 0),
    ]),
    ...(
      [
        ['trnet fast', 'torch env'],
        ['trnet default', 'torch default'],
        ['trnet fast', 'torch default'],
      ] as const
    ).map(([ours, theirs]) => [
      `ratio ${ours} / ${theirs} (> 1 = trnet faster)`,
      train
        ? `${f(med(theirs, 'train_step_s') / med(ours, 'train_step_s'))} / ${f(best(theirs, 'train_step_min_s', 'min') / best(ours, 'train_step_min_s', 'min'))}`
        : '–',
      train ? f(med(theirs, 'train_step_cpu_s') / med(ours, 'train_step_cpu_s')) : '–',
      '',
      infer
        ? `${f(med(ours, 'infer_utt_per_s') / med(theirs, 'infer_utt_per_s'))} / ${f(best(ours, 'infer_utt_per_s_best', 'max') / best(theirs, 'infer_utt_per_s_best', 'max'))}`
        : '–',
      infer ? f(med(ours, 'infer_cpu_utt_per_s') / med(theirs, 'infer_cpu_utt_per_s')) : '–',
      '',
      '',
    ]),
  ]),
);
