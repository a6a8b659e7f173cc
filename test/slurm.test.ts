/**
 * An experiment as Slurm job arrays, against a real Slurm: scripts/slurm/start.sh installs Debian's Slurm and munge
 * when missing, starts a one-node cluster whose files all live in a temp folder, and stop.sh stops exactly those
 * daemons. Where the machine cannot run Slurm (not root, no apt), the Slurm tests are skipped with start.sh's reason.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockTask } from '../ts/experiment/lock.js';
import { type ExperimentConfig, type ExperimentResult, train } from '../ts/index.js';
import { repoRoot, tinyExperiment } from './shared.js';

const work = mkdtempSync(join(tmpdir(), 'trnet-slurm-'));
const slurmState = join(work, 'slurm-cluster');
const bin = join(repoRoot, 'bin/trnet.mjs');
let env: NodeJS.ProcessEnv = process.env;
let skipReason: string | null = null;
let started = false;

// 2 folds × 3 variants × 1 seed on ../shared (RAVDESS 6 actors, ESC-50 fold 4 matched, Speech Commands noise
// unmatched), a tiny model; the feature store is shared by every run folder so features are computed once.
const storeDir = join(work, 'store');
const config = (outDir: string): ExperimentConfig => tinyExperiment(outDir, storeDir, { variants: ['baseline-c', 'baseline-n', 'trnet'] });
function configFile(name: string): string {
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify(config(join(work, name))));
  return file;
}

/** Runs the CLI as a user would (node bin/trnet.mjs …) with the cluster's SLURM_CONF. */
function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env, cwd: work });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function cliOk(args: string[]): string {
  const r = cli(args);
  if (r.code !== 0) throw new Error(`trnet ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}
/** The trnet-task binary, built like test/task-binary.test.ts builds it (cargo only checks when it is up to date). */
function taskBinary(): string {
  execFileSync(
    'bash',
    ['scripts/with-env.sh', 'cargo', 'build', '--release', '-q', '-p', 'trnet-train', '--bin', 'trnet-task', '--target', 'x86_64-unknown-linux-gnu'],
    { cwd: repoRoot, stdio: 'inherit' },
  );
  const target = execFileSync('bash', ['-c', 'source scripts/env.sh && echo "$CARGO_TARGET_DIR"'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  return join(target, 'x86_64-unknown-linux-gnu/release/trnet-task');
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Status {
  counts: Record<string, number>;
  tasks: { index: number; id: string; state: string; slurm?: string; log?: string; jobId?: string }[];
}
const status = (dir: string): Status => JSON.parse(cliOk(['status', dir, '--json'])) as Status;

/** Polls `trnet status` until nothing of the run is queued or running. */
async function waitIdle(dir: string, timeoutMs: number): Promise<Status> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = status(dir);
    if (s.counts.running === 0 && s.counts.queued === 0) return s;
    if (Date.now() > until)
      throw new Error(
        `the arrays of ${dir} did not finish within ${timeoutMs / 1000} s: ${JSON.stringify(s.counts)}\n${spawnSync('squeue', ['-r'], { env, encoding: 'utf8' }).stdout}`,
      );
    await sleep(1000);
  }
}

const stripDir = (r: { summary: unknown; tasks: unknown }) => JSON.stringify({ summary: r.summary, tasks: r.tasks });
const resultsOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { summary: unknown; tasks: unknown; tasksDone: number };
let local: ExperimentResult;

beforeAll(async () => {
  const t0 = Date.now();
  const r = spawnSync('bash', [join(repoRoot, 'scripts/slurm/start.sh'), slurmState], { encoding: 'utf8', timeout: 600_000 });
  if (r.status === 77) skipReason = r.stderr.trim();
  else if (r.status !== 0) throw new Error(`scripts/slurm/start.sh failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
  else started = true;
  env = { ...process.env, SLURM_CONF: join(slurmState, 'slurm.conf') };
  console.log(`slurm cluster: ${started ? `up in ${((Date.now() - t0) / 1000).toFixed(1)} s` : `skipped: ${skipReason}`}`);
  // The same experiment in one process: the reference the arrays must reproduce exactly (same seeds, CPU).
  if (!started) return;
  const t1 = Date.now();
  local = await train(config(join(work, 'local')));
  console.log(`local run: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
}, 600_000);

afterAll(() => {
  if (started) {
    const r = spawnSync('bash', [join(repoRoot, 'scripts/slurm/stop.sh'), slurmState], { encoding: 'utf8' });
    if (r.status !== 0) console.error(`scripts/slurm/stop.sh: ${r.stderr}`);
  }
  rmSync(work, { recursive: true, force: true });
});

describe('trnet submit --dry-run and the task lock (no scheduler needed)', () => {
  it('prints both stage scripts with the global indices, the dependency and the resources, and writes nothing', () => {
    const file = configFile('dry');
    const out = cliOk([
      'submit',
      file,
      '--slurm',
      '--dry-run',
      '--max-parallel',
      '2',
      '--gpus-per-task',
      '1',
      '--time',
      '1:00:00',
      '--mem',
      '8G',
      '--partition',
      'gpu',
    ]);
    const [s1, s2] = out.split(/^# .*stage2-.*\.sbatch$/m);
    expect(s1).toContain('#SBATCH --array=0-1%2');
    expect(s2).toContain('#SBATCH --array=2-5%2');
    expect(s2).toContain('#SBATCH --dependency=afterok:<stage-1 job id>');
    expect(s1).not.toContain('--dependency');
    for (const line of [
      '#SBATCH --gpus-per-task=1',
      '#SBATCH --time=1:00:00',
      '#SBATCH --mem=8G',
      '#SBATCH --partition=gpu',
      `#SBATCH --output=${join(work, 'dry', 'slurm', 'logs', '%A_%a.out')}`,
    ]) {
      expect(s1).toContain(line);
      expect(s2).toContain(line);
    }
    expect(s2).toContain(`exec ${process.execPath} ${bin} run-task ${file}`);
    expect(existsSync(join(work, 'dry'))).toBe(false);
    expect(cli(['submit', file, '--slurm', '--gres', 'gpu:1', '--gpus-per-task', '1']).stderr).toContain(
      'expected one of --gres and --gpus-per-task, found both',
    );
    expect(cli(['submit', file]).stderr).toContain('use --slurm');
  });

  it('--task-binary: the elements exec that binary on the run folder, once it is executable and the tasks are described', () => {
    const file = configFile('binary-dry');
    const fake = join(work, 'trnet-task');
    writeFileSync(fake, '#!/bin/sh\nexit 0\n');
    chmodSync(fake, 0o644);
    // Not executable: refused before anything is written, with how to build it.
    const refused = cli(['submit', file, '--slurm', '--dry-run', '--task-binary', fake]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`--task-binary ${fake}: expected an executable trnet-task binary, found a file that is not executable`);
    expect(refused.stderr).toContain('cargo build --release -p trnet-train --bin trnet-task');
    expect(cli(['submit', file, '--slurm', '--dry-run', '--task-binary', join(work, 'nowhere')]).stderr).toContain('found nothing');
    chmodSync(fake, 0o755);
    const out = cliOk(['submit', file, '--slurm', '--dry-run', '--task-binary', fake]);
    const [s1, s2] = out.split(/^# .*stage2-.*\.sbatch$/m);
    for (const s of [s1!, s2!]) {
      expect(s).toContain(`exec ${fake} ${join(work, 'binary-dry')}\n`);
      expect(s).not.toContain('run-task');
    }
    // A real submission needs the descriptions first: refused before sbatch is called (no scheduler needed for that).
    const undescribed = cli(['submit', file, '--slurm', '--task-binary', fake]);
    expect(undescribed.code).toBe(1);
    expect(undescribed.stderr).toContain('[TRNET_SLURM]');
    expect(undescribed.stderr).toMatch(
      /expected a task description \(task\.json\) for every task to submit, found none for 6 of 6 .*trnet tasks .* --describe/s,
    );
    expect(existsSync(join(work, 'binary-dry', 'slurm', 'jobs.json'))).toBe(false);
  });

  it('lets one worker hold a task, refuses a second with TRNET_TASK_LOCKED, and takes over a dead worker’s lock', () => {
    const dir = join(work, 'lock-task');
    const release = lockTask(dir, 'f/seed-1/trnet');
    expect(() => lockTask(dir, 'f/seed-1/trnet')).toThrow(
      expect.objectContaining({ code: 'TRNET_TASK_LOCKED', message: expect.stringContaining(`pid ${process.pid} on ${hostname()}`) }),
    );
    release();
    release(); // idempotent
    lockTask(dir, 'f/seed-1/trnet')(); // free again
    // A lock whose process is gone (a finished child's pid) on this host is stale and taken over.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: Number(dead), host: hostname(), since: 'then' }));
    const again = lockTask(dir, 'f/seed-1/trnet');
    expect(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')).pid).toBe(process.pid);
    again();
    // Another host's lock cannot be checked from here: refused, with how to remove it.
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: 1, host: 'elsewhere', since: 'then' }));
    expect(() => lockTask(dir, 'f/seed-1/trnet')).toThrow(/pid 1 on elsewhere.*delete .*\.lock/s);
  });

  it('runs a task once when two workers start it at the same time', async () => {
    const file = configFile('twice');
    const run = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [bin, 'run-task', file, '--index', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b));
        child.stderr.on('data', (b: Buffer) => (out += b));
        child.on('exit', (code) => resolve({ code, out }));
      });
    const [a, b] = await Promise.all([run(), run()]);
    const winner = [a, b].filter((r) => r.code === 0);
    const loser = [a, b].filter((r) => r.code !== 0);
    expect(winner.length, `${a.out}\n${b.out}`).toBe(1);
    expect(winner[0]!.out).toContain('finished');
    expect(loser[0]!.out).toContain('is being run by another worker');
    expect(existsSync(join(work, 'twice', 'tasks', 'pair01-Actor_01', 'seed-5', 'baseline-c', '.lock'))).toBe(false);
    expect(cliOk(['run-task', file, '--index', '0'])).toContain('skipped');
  }, 120_000);
});

describe('on a real Slurm', () => {
  it('runs the experiment as two job arrays to the same results as one local process', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const t0 = Date.now();
    const file = configFile('arrays');
    const out = cliOk(['submit', file, '--slurm', '--max-parallel', '2', '--time', '10:00']);
    const [, job1] = /stage 1: job (\d+), 2 task\(s\) \(/.exec(out) ?? [];
    expect(out, out).toMatch(new RegExp(`stage 2: job \\d+, 4 task\\(s\\), after ${job1} \\(`));
    const jobs = JSON.parse(readFileSync(join(work, 'arrays', 'slurm', 'jobs.json'), 'utf8'));
    expect(jobs.submissions.map((s: { stage: number; indices: number[] }) => [s.stage, s.indices])).toEqual([
      [1, [0, 1]],
      [2, [2, 3, 4, 5]],
    ]);
    // A second plain submission into the same folder is refused (it would run everything twice).
    expect(cli(['submit', file, '--slurm']).stderr).toContain('was already submitted');

    const done = await waitIdle(join(work, 'arrays'), 180_000);
    console.log(`slurm run: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(done.counts).toMatchObject({ finished: 6, failed: 0 });
    for (const t of done.tasks) expect(readFileSync(t.log!, 'utf8')).toContain(`trnet: task ${t.index} of job ${t.jobId}`);
    expect(cliOk(['report', join(work, 'arrays')])).toContain('6 of 6 tasks finished');
    const results = resultsOf(join(work, 'arrays'));
    expect(results.tasksDone).toBe(6);
    expect(stripDir(results)).toBe(stripDir(local));
  }, 240_000);

  it('after a running task is cancelled, status names it with its log, and --retry-failed completes the same results', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const t0 = Date.now();
    const dir = join(work, 'cancel');
    const file = configFile('cancel');
    cliOk(['submit', file, '--slurm', '--max-parallel', '2']);
    const stage2Job = JSON.parse(readFileSync(join(dir, 'slurm', 'jobs.json'), 'utf8')).submissions[1].jobId as string;
    // Cancel the first stage-2 element seen running.
    let victim = '';
    for (const until = Date.now() + 120_000; !victim && Date.now() < until; await sleep(200)) {
      victim = spawnSync('squeue', ['-h', '-r', '-j', stage2Job, '-t', 'RUNNING', '-o', '%i'], { env, encoding: 'utf8' }).stdout.trim().split('\n')[0] ?? '';
    }
    expect(victim, 'no stage-2 element was seen running').toMatch(/^\d+_\d+$/);
    expect(spawnSync('scancel', [victim], { env, encoding: 'utf8' }).status).toBe(0);
    const index = Number(victim.split('_')[1]);

    const after = await waitIdle(dir, 180_000);
    expect(after.counts).toMatchObject({ finished: 5, failed: 1 });
    const failed = after.tasks.find((t) => t.state === 'failed')!;
    expect(failed).toMatchObject({ index, slurm: 'CANCELLED', log: join(dir, 'slurm', 'logs', `${victim}.out`) });
    const text = cliOk(['status', dir]);
    expect(text).toContain('5 finished, 1 failed');
    expect(text).toMatch(new RegExp(`failed\\s+${index}\\s+${failed.id.replaceAll('/', '\\/')} \\[${victim} CANCELLED\\]\\s+log: ${failed.log}`));

    // Only the cancelled task is resubmitted; its stage 1 has finished, so it waits for nothing.
    const retry = cliOk(['submit', file, '--slurm', '--retry-failed']);
    expect(retry).toMatch(/^stage 2: job \d+, 1 task\(s\) \(/m);
    expect(retry).not.toContain('stage 1:');
    // It asks for what the first submission asked for (--max-parallel 2) without being told again.
    const resubmitted = JSON.parse(readFileSync(join(dir, 'slurm', 'jobs.json'), 'utf8')).submissions.at(-1);
    expect(resubmitted).toMatchObject({ stage: 2, indices: [index], dependsOn: null });
    expect(readFileSync(resubmitted.script, 'utf8')).toContain(`#SBATCH --array=${index}%2\n`);
    const final = await waitIdle(dir, 120_000);
    expect(final.counts).toMatchObject({ finished: 6, failed: 0 });
    expect(cliOk(['submit', file, '--slurm', '--retry-failed'])).toContain('nothing to submit: 6 task(s) finished');
    cliOk(['report', dir]);
    console.log(`cancel + retry run: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(stripDir(resultsOf(dir))).toBe(stripDir(local));
  }, 300_000);

  it('when a stage-1 task fails, stage 2 never starts, and --retry-failed resubmits both behind the new stage-1 job', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const t0 = Date.now();
    const dir = join(work, 'stage1');
    const file = configFile('stage1');
    const [, job1] = /stage 1: job (\d+)/.exec(cliOk(['submit', file, '--slurm', '--max-parallel', '2'])) ?? [];
    // Cancelled once running (an element cancelled while pending leaves no record in squeue; status still says failed).
    let running = false;
    for (const until = Date.now() + 60_000; !running && Date.now() < until; await sleep(200)) {
      running = spawnSync('squeue', ['-h', '-r', '-j', job1!, '-t', 'RUNNING', '-o', '%i'], { env, encoding: 'utf8' }).stdout.includes(`${job1}_1`);
    }
    expect(running, `${job1}_1 was not seen running`).toBe(true);
    expect(spawnSync('scancel', [`${job1}_1`], { env, encoding: 'utf8' }).status).toBe(0);
    const after = await waitIdle(dir, 120_000);
    // Task 0 finished; task 1 was cancelled; the stage-2 array can never start: Slurm keeps it pending with
    // DependencyNeverSatisfied, and status counts it as failed.
    expect(after.counts).toMatchObject({ finished: 1, failed: 5 });
    expect(after.tasks[1]).toMatchObject({ state: 'failed', slurm: 'CANCELLED' });
    for (const t of after.tasks.slice(2)) {
      expect(t).toMatchObject({ state: 'failed', slurm: 'PENDING', reason: 'DependencyNeverSatisfied' });
      expect(existsSync(t.log!)).toBe(false);
    }
    const oldStage2 = after.tasks[2]!.jobId!;
    const retry = cliOk(['submit', file, '--slurm', '--retry-failed', '--time', '5:00']);
    const [, newJob1] = /^stage 1: job (\d+), 1 task\(s\) \(/m.exec(retry) ?? [];
    expect(retry, retry).toMatch(new RegExp(`^stage 2: job \\d+, 4 task\\(s\\), after ${newJob1} \\(`, 'm'));
    // The stuck elements were cancelled, so each task has one element left in the queue.
    expect(spawnSync('squeue', ['-h', '-r', '-j', oldStage2, '-t', 'PENDING', '-o', '%i'], { env, encoding: 'utf8' }).stdout.trim()).toBe('');
    const stage2Script = JSON.parse(readFileSync(join(dir, 'slurm', 'jobs.json'), 'utf8')).submissions.at(-1).script;
    expect(readFileSync(stage2Script, 'utf8')).toMatch(/#SBATCH --array=2-5%2\n[\s\S]*#SBATCH --time=5:00\n/);
    const final = await waitIdle(dir, 180_000);
    expect(final.counts).toMatchObject({ finished: 6, failed: 0 });
    cliOk(['report', dir]);
    console.log(`stage-1 failure + retry run: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(stripDir(resultsOf(dir))).toBe(stripDir(local));
  }, 300_000);

  it('runs the arrays with trnet-task (no Node on the nodes) to the same results as one local process', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const t0 = Date.now();
    const dir = join(work, 'binary');
    const file = configFile('binary');
    expect(cliOk(['tasks', file, '--describe'])).toContain('6 task descriptions written');
    const out = cliOk(['submit', file, '--slurm', '--max-parallel', '2', '--task-binary', taskBinary()]);
    expect(out).toMatch(/^stage 2: job \d+, 4 task\(s\), after \d+ \(/m);
    const done = await waitIdle(dir, 180_000);
    console.log(`slurm run with trnet-task: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(done.counts).toMatchObject({ finished: 6, failed: 0 });
    for (const t of done.tasks) {
      const log = readFileSync(t.log!, 'utf8');
      expect(log).toContain(`trnet: task ${t.index} of job ${t.jobId}`);
      // The binary's own closing line (the CLI's run-task prints no time).
      expect(log).toMatch(new RegExp(`^task ${t.index} \\(${t.id}\\): finished in [\\d.]+ s$`, 'm'));
    }
    cliOk(['report', dir]);
    expect(stripDir(resultsOf(dir))).toBe(stripDir(local));
  }, 300_000);
});
