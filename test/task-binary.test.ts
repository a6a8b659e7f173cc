/**
 * trnet-task, the Node-free task runner (crates/trnet-train/src/bin/trnet-task.rs), against the TypeScript runner on
 * a tiny real experiment (RAVDESS, ESC-50, Speech Commands noise from ../shared): the runner writes the task
 * descriptions, the binary runs a task from one, and the results must equal the N-API path's for the same task and
 * seed; the runner, `trnet report` and a stage-2 task on the N-API path must take the binary's task as finished.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LastCheckpoint, type PredictionRow, taskMetrics } from '../ts/experiment/results.js';
import {
  describeTasks,
  type ExperimentConfig,
  listTasks,
  openExperiment,
  report,
  runExperimentTask,
  TASK_DESCRIPTION_FILE,
  type TaskDescription,
} from '../ts/index.js';
import { EMBEDDINGS_INDEX, embeddingSnr, readEmbeddings } from '../ts/report/embeddings.js';
import { repoRoot, tinyExperiment } from './shared.js';

const work = mkdtempSync(join(tmpdir(), 'trnet-task-bin-'));
const storeDir = join(work, 'store');
// One fold, Baseline-c and TRNet (TRNet needs the Baseline-c as its frozen reference); one libtorch thread in both
// processes so that the CPU results are the same bits.
const config = (name: string): ExperimentConfig =>
  tinyExperiment(join(work, name), storeDir, { folds: { limit: 1 }, variants: ['baseline-c', 'trnet'], training: { epochs: 2, batchSize: 32, threads: 1 } });
let binary = '';

interface Stored {
  id: string;
  metrics: ReturnType<typeof taskMetrics>;
  best: { epoch: number; uar: number; war: number };
  epochsRun: number;
  rows: PredictionRow[];
  last?: LastCheckpoint;
}
const evaluation = (dir: string): Stored => JSON.parse(readFileSync(join(dir, 'evaluation.json'), 'utf8')) as Stored;

/** The binary's embeddings (in `bin`) are the N-API path's (in `node`): the same index, the same rows in the same
 * order, values within 1e-5. */
function expectSameEmbeddings(bin: string, node: string): void {
  const b = readEmbeddings(bin);
  const a = readEmbeddings(node);
  expect(b, `${bin} has no embeddings`).not.toBeNull();
  expect(a, `${node} has no embeddings`).not.toBeNull();
  expect(b!.index.count).toBeGreaterThan(0);
  // Byte for byte the runner's index (JSON.stringify order, SNRs as JS numbers).
  expect(readFileSync(join(bin, EMBEDDINGS_INDEX), 'utf8')).toBe(readFileSync(join(node, EMBEDDINGS_INDEX), 'utf8'));
  expect(b!.values.length).toBe(a!.values.length);
  let worst = 0;
  for (let i = 0; i < a!.values.length; i++) worst = Math.max(worst, Math.abs(b!.values[i]! - a!.values[i]!));
  expect(worst).toBeLessThanOrEqual(1e-5);
}

/** The binary's `last` is the runner's: the same epochs, and metrics equal to 1e-9. */
function expectSameLast(bin: Stored, node: Stored): void {
  expect(bin.last, 'the binary recorded no last checkpoint').toBeDefined();
  expect(node.last, 'the runner recorded no last checkpoint').toBeDefined();
  expect([bin.last!.epoch, bin.last!.bestEpoch]).toEqual([node.last!.epoch, node.last!.bestEpoch]);
  expect(bin.last!.epoch).toBe(bin.epochsRun);
  for (const condition of ['clean', 'matched', 'unmatched'] as const) {
    const [x, y] = [bin.last!.metrics[condition]!, node.last!.metrics[condition]!];
    expect(x.n).toBe(y.n);
    expect(x.uar).toBeCloseTo(y.uar, 9);
    expect(x.war).toBeCloseTo(y.war, 9);
    expect(x.meanC).not.toBeNull();
    expect(x.meanC!).toBeCloseTo(y.meanC!, 9);
  }
}

function runBinary(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'SLURM_ARRAY_TASK_ID' && k !== 'JOB_COMPLETION_INDEX'));
  const r = spawnSync(binary, args, { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  // Built the way bench/train.ts builds its example (up to date: cargo only checks).
  const target = execFileSync('bash', ['-c', 'source scripts/env.sh && echo "$CARGO_TARGET_DIR"'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  execFileSync(
    'bash',
    ['scripts/with-env.sh', 'cargo', 'build', '--release', '-q', '-p', 'trnet-train', '--bin', 'trnet-task', '--target', 'x86_64-unknown-linux-gnu'],
    { cwd: repoRoot, stdio: 'inherit' },
  );
  binary = join(target, 'x86_64-unknown-linux-gnu/release/trnet-task');
}, 1_800_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('trnet-task', () => {
  it('runs a task from the description the runner writes, with the N-API path’s results, and the runner takes it as done', async () => {
    // The N-API path: task 0 (Baseline-c) of run folder a.
    const viaNode = await runExperimentTask(config('a'), 0);
    expect(viaNode.status).toBe('finished');

    // The runner writes run folder b's descriptions (the feature stores already exist: shared store folder).
    const cfgB = config('b');
    const { tasks, files } = await describeTasks(cfgB);
    expect(tasks.map((t) => t.id)).toEqual(listTasks(cfgB).map((t) => t.id));
    expect(files).toEqual(tasks.map((t) => join(t.dir, TASK_DESCRIPTION_FILE)));
    const d0 = JSON.parse(readFileSync(files[0]!, 'utf8')) as TaskDescription;
    const d1 = JSON.parse(readFileSync(files[1]!, 'utf8')) as TaskDescription;
    expect(d0).toMatchObject({ format: 2, id: tasks[0]!.id, variant: 'baseline-c', needs: null, reference: null });
    expect(d1).toMatchObject({ variant: 'trnet', needs: tasks[0]!.id, reference: '../baseline-c/run/best' });
    // Relative paths (a run folder can move), stores that exist, and every condition with items.
    for (const p of [d0.train.store, d0.validation.store, ...d0.evaluation.map((e) => e.store)]) {
      expect(isAbsolute(p)).toBe(false);
      expect(existsSync(join(tasks[0]!.dir, p, 'manifest.json'))).toBe(true);
    }
    expect(d0.evaluation.map((e) => e.condition)).toEqual(['clean', 'matched', 'unmatched']);
    expect(d0.train.items.length).toBeGreaterThan(0);
    // The t-SNE's rows are flagged by the runner's rule: every clean item, the matched items at the lowest SNR.
    const lowest = embeddingSnr(cfgB.snrsDb!);
    for (const e of d0.evaluation)
      for (const item of e.items)
        expect(item.embed === true, `${e.condition} ${item.snrDb}`).toBe(e.condition === 'clean' || (e.condition === 'matched' && item.snrDb === lowest));
    expect(d0.evaluation[1]!.items.some((i) => i.embed)).toBe(true);
    expect([d0.representation, d1.representation]).toEqual(['h', 'h~']);

    // Stage 2 before its Baseline-c has finished: refused with the runner's code.
    const early = runBinary([files[1]!]);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('[TRNET_TASK_NOT_READY]');

    // The binary runs task 0 of b.
    const run = runBinary([files[0]!, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const done = JSON.parse(run.stdout.trim().split('\n').pop()!) as { stage: string; status: string; task: string };
    expect(done).toMatchObject({ stage: 'done', status: 'finished', task: tasks[0]!.id });

    // Same seed, same data, same thread count: the same training and the same predictions as the N-API path.
    const a = evaluation(join(work, 'a', 'tasks', tasks[0]!.id));
    const b = evaluation(tasks[0]!.dir);
    expect(b.id).toBe(a.id);
    expect(b.epochsRun).toBe(a.epochsRun);
    expect(b.best.epoch).toBe(a.best.epoch);
    expect(b.best.uar).toBeCloseTo(a.best.uar, 9);
    expect(b.rows.length).toBe(a.rows.length);
    b.rows.forEach((r, i) => {
      const o = a.rows[i]!;
      expect([r.utterance, r.speaker, r.condition, r.snrDb, r.label, r.prediction, r.c]).toEqual([
        o.utterance,
        o.speaker,
        o.condition,
        o.snrDb,
        o.label,
        o.prediction,
        o.c,
      ]);
      for (const [k, p] of r.probs.entries()) expect(p).toBeCloseTo(o.probs[k]!, 6);
    });
    for (const condition of ['clean', 'matched', 'unmatched'] as const) {
      expect(b.metrics[condition]!.uar).toBeCloseTo(a.metrics[condition]!.uar, 9);
      expect(b.metrics[condition]!.war).toBeCloseTo(a.metrics[condition]!.war, 9);
    }
    // The binary's metrics are the runner's formula on its rows (results.ts taskMetrics), field for field.
    expect(JSON.parse(JSON.stringify(taskMetrics(b.rows)))).toEqual(b.metrics);
    // The t-SNE's embeddings, as the runner saves them; Baseline-c has no c, so no last checkpoint on either path.
    expectSameEmbeddings(tasks[0]!.dir, join(work, 'a', 'tasks', tasks[0]!.id));
    expect([a.last, b.last]).toEqual([undefined, undefined]);

    // The runner and the binary take the task as done; a run folder and --index find the same description.
    expect((await runExperimentTask(cfgB, 0)).status).toBe('skipped');
    const again = runBinary([join(work, 'b'), '--index', '0', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.trim().split('\n').pop()!)).toMatchObject({ status: 'skipped' });

    // The stage-2 task on the N-API path trains against the binary's Baseline-c checkpoint.
    expect((await runExperimentTask(cfgB, 1)).status).toBe('finished');
    expect(openExperiment(join(work, 'b')).tasks.map((t) => t.status)).toEqual(['finished', 'finished']);
    // And the other way round: the binary runs TRNet (a variant with c) against run folder a's N-API Baseline-c. Its
    // embeddings (h~) and its last checkpoint's metrics are the runner's for the same task in b.
    const { files: filesA } = await describeTasks(config('a'));
    const trnet = runBinary([filesA[1]!]);
    expect(trnet.code, trnet.stderr).toBe(0);
    const trnetDir = join(work, 'a', 'tasks', tasks[1]!.id);
    const [binTrnet, nodeTrnet] = [evaluation(trnetDir), evaluation(tasks[1]!.dir)];
    expect(binTrnet.rows.map((r) => r.prediction)).toEqual(nodeTrnet.rows.map((r) => r.prediction));
    expectSameEmbeddings(trnetDir, tasks[1]!.dir);
    expect(readEmbeddings(trnetDir)!.index.representation).toBe('h~');
    expectSameLast(binTrnet, nodeTrnet);
    const rep = await report(join(work, 'b'));
    expect(rep.tasks.map((t) => t.id).sort()).toEqual(tasks.map((t) => t.id).sort());
    expect(rep.summary.find((s) => s.variant === 'baseline-c')!.clean.uar.mean).toBeCloseTo(a.metrics.clean.uar, 9);
  }, 1_800_000);

  it('stops at SIGTERM with exit code 3 and its state saved, and the same command resumes it to the uninterrupted result', async () => {
    // The uninterrupted result: task 0 of run folder a on the N-API path (the first test's; skipped if it ran).
    await runExperimentTask(config('a'), 0);
    const { tasks, files } = await describeTasks(config('d'));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'SLURM_ARRAY_TASK_ID' && k !== 'JOB_COMPLETION_INDEX'));
    const child = spawn(binary, [files[0]!, '--json'], { env });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // After the first epoch's event, so that the task is inside training (epoch 2) or evaluating when it arrives.
      if (!signalled && stdout.includes('"stage":"epoch"')) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
    expect(signalled, `no epoch event before the task ended: ${stdout}${stderr}`).toBe(true);
    expect(code, stderr).toBe(3);
    const last = JSON.parse(stdout.trim().split('\n').pop()!) as { stage: string; signal: string; exitCode: number; checkpoint: string };
    expect(last).toMatchObject({ stage: 'stopped', task: tasks[0]!.id, signal: 'SIGTERM', exitCode: 3 });
    // Resumable, as a cancelled train leaves it: last/ saved, not finished, the task lock released.
    expect(existsSync(join(last.checkpoint, 'state.json'))).toBe(true);
    expect(existsSync(join(tasks[0]!.dir, 'evaluation.json'))).toBe(false);
    expect(existsSync(join(tasks[0]!.dir, '.lock'))).toBe(false);
    const state = JSON.parse(readFileSync(join(last.checkpoint, 'state.json'), 'utf8')) as { epoch: number };
    expect(state.epoch).toBeGreaterThanOrEqual(1);

    const resumed = runBinary([files[0]!, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout.trim().split('\n').pop()!)).toMatchObject({ stage: 'done', status: 'finished' });
    const [a, d] = [evaluation(join(work, 'a', 'tasks', tasks[0]!.id)), evaluation(tasks[0]!.dir)];
    expect([d.epochsRun, d.best.epoch]).toEqual([a.epochsRun, a.best.epoch]);
    expect(d.best.uar).toBeCloseTo(a.best.uar, 9);
    expect(d.rows.map((r) => [r.utterance, r.condition, r.snrDb, r.prediction])).toEqual(a.rows.map((r) => [r.utterance, r.condition, r.snrDb, r.prediction]));
    d.rows.forEach((r, i) => {
      for (const [k, p] of r.probs.entries()) expect(p).toBeCloseTo(a.rows[i]!.probs[k]!, 6);
    });
    // The training history of the stopped-and-resumed run is the uninterrupted one's, epoch for epoch.
    const history = (dir: string) =>
      (JSON.parse(readFileSync(join(dir, 'run', 'report.json'), 'utf8')) as { history: { train: Record<string, number | null> }[] }).history.map(
        (h) => h.train,
      );
    expect(history(tasks[0]!.dir)).toEqual(history(join(work, 'a', 'tasks', tasks[0]!.id)));
  }, 1_800_000);

  it('trnet tasks --describe writes the same descriptions from the command line', () => {
    const file = join(work, 'c.json');
    writeFileSync(file, JSON.stringify(config('c')));
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin/trnet.mjs'), 'tasks', file, '--describe', '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.includes('"description"'))
      .map((l) => JSON.parse(l) as { index: number; id: string; description: string });
    expect(lines.map((l) => l.id)).toEqual(listTasks(config('c')).map((t) => t.id));
    // The same task of another run folder: the same description (its paths are relative to the task folder).
    const c0 = JSON.parse(readFileSync(lines[0]!.description, 'utf8')) as TaskDescription;
    const b0 = JSON.parse(readFileSync(join(work, 'b', 'tasks', lines[0]!.id, TASK_DESCRIPTION_FILE), 'utf8')) as TaskDescription;
    expect(c0).toEqual(b0);
  }, 600_000);

  it('says what is wrong with a missing or damaged description, and with its arguments', () => {
    const missing = runBinary([join(work, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('[TRNET_EXPERIMENT_NOT_FOUND]');
    expect(missing.stderr).toContain('trnet tasks <config> --describe');

    const bad = join(work, 'bad');
    rmSync(bad, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', bad]);
    writeFileSync(join(bad, TASK_DESCRIPTION_FILE), '{"format": 1, "id": "x"');
    const broken = runBinary([bad, '--json']);
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout.trim())).toMatchObject({ stage: 'error', code: 'TRNET_EXPERIMENT_CORRUPT' });
    // A description of format 1 (before the embeddings flags) is refused, not run without embeddings.
    writeFileSync(join(bad, TASK_DESCRIPTION_FILE), '{"format": 1}');
    expect(runBinary([bad]).stderr).toContain('expected a task description of format 2, found format 1');
    writeFileSync(join(bad, TASK_DESCRIPTION_FILE), '{"format": 2, "id": "x"}');
    expect(runBinary([bad]).stderr).toMatch(/\[TRNET_EXPERIMENT_CORRUPT\].*missing field/);

    // A run folder without an index, or with one out of range; an unknown option.
    writeFileSync(join(bad, 'plan.json'), '{"tasks": [{"id": "f/seed-1/baseline-c", "index": 0}]}');
    const noIndex = runBinary([bad]);
    expect(noIndex.code).toBe(2);
    expect(noIndex.stderr).toContain('expected --index N, or SLURM_ARRAY_TASK_ID');
    expect(runBinary([bad, '--index', '7']).stderr).toContain('[TRNET_INVALID_ARGUMENT]');
    expect(runBinary([bad, '--frobnicate']).code).toBe(2);
  });
});
