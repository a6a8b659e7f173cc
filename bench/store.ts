/**
 * Feature store benchmark. Two parts:
 *
 * 1. Real audio: `buildFeatureSet` on RAVDESS (first `--actors` actors, every emotion) with ESC-50 noise, the
 *    classical enhancer and 500-frame features, in memory, into a new store (a miss) and again (a hit).
 * 2. Corpus-like size (`crates/trnet-train/examples/store_speed.rs`): `--pairs` synthetic utterances of
 *    500 × 80 spectrograms (4 records, 640 KB per utterance) built into a store, then, each in its own process,
 *    one epoch of batch reads and a few small-TRNet training steps from the store and from memory, with peak RSS.
 *
 *   npx tsx bench/store.ts [--actors 4] [--pairs 1024] [--steps 12] [--threads 2]
 *
 * The store is read twice: cold (its pages dropped from the page cache first, with posix_fadvise DONTNEED
 * through python3) and warm (in the page cache, as on a machine with RAM to spare for it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildFeatureSet, readEsc50, readRavdess } from '../ts/index.js';
import { repoRoot, sharedDir, table } from './lib/timing.js';

const { values } = parseArgs({
  options: {
    actors: { type: 'string', default: '4' },
    pairs: { type: 'string', default: '1024' },
    steps: { type: 'string', default: '12' },
    threads: { type: 'string', default: '2' },
  },
});
const work = mkdtempSync(join(tmpdir(), 'trnet-bench-store-'));
const seconds = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

try {
  const corpus = readRavdess(join(sharedDir, 'data/ravdess')).filter((u) => Number(u.speaker.slice(6)) <= Number(values.actors));
  const labels = [...new Set(corpus.map((u) => u.emotion))];
  const utterances = corpus.map((u) => ({ path: u.path, label: labels.indexOf(u.emotion), speaker: u.speaker, id: u.id }));
  const noises = readEsc50(join(sharedDir, 'data/esc50'), { folds: [4] })
    .slice(0, 8)
    .map((n) => n.path);
  const options = { noises, seed: 1, enhancer: { kind: 'classical' } };
  const memory = await seconds(() => buildFeatureSet(utterances, options));
  const miss = await seconds(() => buildFeatureSet(utterances, { ...options, store: { dir: join(work, 'stores') } }));
  const hit = await seconds(() => buildFeatureSet(utterances, { ...options, store: { dir: join(work, 'stores') } }));
  console.log(`buildFeatureSet: ${utterances.length} RAVDESS utterances (clean + one noisy copy each, 500 × 80, classical SE)\n`);
  console.log(
    table([
      ['', 'seconds', 'vs in memory'],
      ['in memory', memory.toFixed(2), '1.00'],
      ['into a new store (miss)', miss.toFixed(2), (miss / memory).toFixed(2)],
      ['from the store (hit)', hit.toFixed(3), (hit / memory).toFixed(4)],
    ]),
  );

  const env = execFileSync('bash', ['-c', 'source scripts/env.sh && echo "$CARGO_TARGET_DIR"'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  execFileSync(
    'bash',
    ['scripts/with-env.sh', 'cargo', 'build', '--release', '-q', '-p', 'trnet-train', '--example', 'store_speed', '--target', 'x86_64-unknown-linux-gnu'],
    { cwd: repoRoot, stdio: 'inherit' },
  );
  const example = join(env, 'x86_64-unknown-linux-gnu/release/examples/store_speed');
  const run = (mode: string) => {
    const args = ['--mode', mode, '--dir', join(work, 'synthetic'), '--pairs', values.pairs, '--steps', values.steps, '--threads', values.threads];
    const out = execFileSync('bash', ['scripts/with-env.sh', example, ...args], { cwd: repoRoot, encoding: 'utf8' });
    return JSON.parse(
      out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop()!,
    );
  };
  const built = run('build');
  const evict = `import os; fd = os.open(${JSON.stringify(join(work, 'synthetic', 'features.f32'))}, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)`;
  execFileSync('python3', ['-c', evict]);
  const [cold, disk, mem] = [run('disk'), run('disk'), run('memory')];
  console.log(
    `\n${disk.items} items (${built.store_mib.toFixed(0)} MiB of records), batch 32, small TRNet, ${values.threads} thread(s); store built in ${built.build_s.toFixed(1)} s\n`,
  );
  console.log(
    table([
      ['', 'ready s', 'epoch of batch reads s', 'train step s (median / fastest)', 'peak RSS MiB'],
      [
        'memory',
        mem.ready_s.toFixed(2),
        mem.epoch_read_s.toFixed(2),
        `${mem.train_step_s.toFixed(3)} / ${mem.train_step_min_s.toFixed(3)}`,
        mem.peak_rss_mib.toFixed(0),
      ],
      [
        'store, cold',
        cold.ready_s.toFixed(3),
        cold.epoch_read_s.toFixed(2),
        `${cold.train_step_s.toFixed(3)} / ${cold.train_step_min_s.toFixed(3)}`,
        cold.peak_rss_mib.toFixed(0),
      ],
      [
        'store, warm',
        disk.ready_s.toFixed(3),
        disk.epoch_read_s.toFixed(2),
        `${disk.train_step_s.toFixed(3)} / ${disk.train_step_min_s.toFixed(3)}`,
        disk.peak_rss_mib.toFixed(0),
      ],
      [
        'ratio store (warm) / memory',
        '',
        (disk.epoch_read_s / mem.epoch_read_s).toFixed(2),
        `${(disk.train_step_s / mem.train_step_s).toFixed(2)} / ${(disk.train_step_min_s / mem.train_step_min_s).toFixed(2)}`,
        (disk.peak_rss_mib / mem.peak_rss_mib).toFixed(2),
      ],
    ]),
  );
  // What a cache hit of buildFeatureSet adds: reading every record once and checking its CRC-32.
  console.log(`\nchecking every record's checksum (what a cache hit adds), store in the page cache: ${disk.verify_s.toFixed(3)} s`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
