/**
 * Training-speed benchmark: one training step and inference throughput of the paper-size TRNet (batch 32,
 * 500 frames × 80 bins, channels 32/64/128/256) in trnet (tch, `crates/trnet-train/examples/train_speed.rs`)
 * against the same model in PyTorch eager (`scripts/reference/torch_train_step.py`), same threads, same run.
 *
 *   npx tsx bench/train.ts [--threads 2] [--steps 5] [--variant trnet] [--device cpu]
 *
 * Ratio = PyTorch time / trnet time for a step (> 1: trnet is faster), trnet / PyTorch for utterances per second.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, table } from './lib/timing.js';

const { values } = parseArgs({ options: { threads: { type: 'string', default: '2' }, steps: { type: 'string', default: '5' }, variant: { type: 'string', default: 'trnet' }, device: { type: 'string', default: 'cpu' } } });
const args = ['--threads', values.threads, '--steps', values.steps, '--variant', values.variant, '--device', values.device];
const env = execFileSync('bash', ['-c', 'source scripts/env.sh && echo "$TRNET_VENV|$CARGO_TARGET_DIR"'], { cwd: repoRoot, encoding: 'utf8' }).trim().split('|');
const [venv, target] = [env[0]!, env[1]!];

execFileSync('bash', ['scripts/with-env.sh', 'cargo', 'build', '--release', '-q', '-p', 'trnet-train', '--example', 'train_speed', '--target', 'x86_64-unknown-linux-gnu'], { cwd: repoRoot, stdio: 'inherit' });
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
const ours = lastJson(execFileSync(join(target, 'x86_64-unknown-linux-gnu/release/examples/train_speed'), args, { encoding: 'utf8' }));
const torch = lastJson(execFileSync(join(venv, 'bin/python'), [join(repoRoot, 'scripts/reference/torch_train_step.py'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));

console.log(`TRNet (${values.variant}), batch ${ours.batch}, ${ours.frames}×${ours.bins}, ${values.threads} thread(s), device ${values.device}\n`);
console.log(
  table([
    ['', 'train step s (median / fastest)', 'inference utt/s (median / best)', 'peak RSS MiB'],
    [String(ours.impl), `${ours.train_step_s} / ${ours.train_step_min_s}`, `${ours.infer_utt_per_s} / ${ours.infer_utt_per_s_best}`, ours.peak_rss_mib],
    [String(torch.impl), `${torch.train_step_s} / ${torch.train_step_min_s}`, `${torch.infer_utt_per_s} / ${torch.infer_utt_per_s_best}`, torch.peak_rss_mib],
    [
      'ratio (trnet vs PyTorch, > 1 = trnet faster)',
      `${(torch.train_step_s / ours.train_step_s).toFixed(2)} / ${(torch.train_step_min_s / ours.train_step_min_s).toFixed(2)}`,
      `${(ours.infer_utt_per_s / torch.infer_utt_per_s).toFixed(2)} / ${(ours.infer_utt_per_s_best / torch.infer_utt_per_s_best).toFixed(2)}`,
      '',
    ],
  ]),
);
