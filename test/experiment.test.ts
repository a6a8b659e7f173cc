import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitMatched } from '../ts/experiment/data.js';
import {
  type ExperimentConfig,
  type ExperimentResult,
  isAbortError,
  listTasks,
  metricsFromPredictions,
  openExperiment,
  readCremaD,
  readEmodb,
  readEsc50,
  readManifest,
  readNoiseFolder,
  report,
  resolveConfig,
  runExperimentTask,
  train,
  writeWav,
} from '../ts/index.js';
import { repoRoot, sharedDir, sharedPath, tinyExperiment } from './shared.js';

const work = mkdtempSync(join(tmpdir(), 'trnet-experiment-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const tone = new Float32Array(1600).map((_, i) => 0.1 * Math.sin(i / 5));

function thrown(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { code: (err as { code?: string }).code, message: String((err as Error).message) };
  }
  throw new Error('expected an error');
}

describe('experiment config', () => {
  it('reports every problem at once, each with its JSON path, and rejects unknown keys', () => {
    const e = thrown(() =>
      resolveConfig({
        outDir: join(work, 'x'),
        corpus: { reader: 'ravdes', path: join(work, 'nowhere'), classes: ['a'] },
        noise: { matched: { reader: 'esc50', path: join(work, 'no-noise') }, split: 'both' },
        snrsDb: [10, 10],
        seeds: [1.5],
        epochs: 3,
        model: { variant: 'trnet' },
        training: { lossReadEvery: 0, adamUpdate: 'fused' },
        tasksPerDevice: 2.5,
      }),
    );
    expect(e.code).toBe('TRNET_INVALID_CONFIG');
    for (const part of [
      'corpus.reader: expected one of iemocap, ravdess, emodb, crema-d, manifest, found the string "ravdes"',
      `corpus.path: no such folder ${join(work, 'nowhere')}`,
      'corpus.classes: expected at least 2 classes',
      `noise.matched.path: no such folder ${join(work, 'no-noise')}`,
      'noise.split: expected one of disjoint, shared',
      'snrsDb: expected distinct values',
      'seeds[0]: expected an integer',
      'epochs: unknown key',
      'model.variant: set by the experiment',
      'training.lossReadEvery: expected an integer in [1, 100000], found number 0',
      'training.adamUpdate: expected one of per-tensor, flat, found the string "fused"',
      'tasksPerDevice: expected an integer in [1, 64], found number 2.5',
    ]) {
      expect(e.message).toContain(part);
    }
  });

  it('accepts the example configs that read ../shared, and the one `trnet init` writes', async () => {
    for (const name of ['ravdess.json', 'ravdess-smoke.json']) {
      const text = readFileSync(join(repoRoot, 'examples/configs', name), 'utf8').replaceAll('../shared', sharedDir);
      expect(resolveConfig(JSON.parse(text)).corpus.reader).toBe('ravdess');
    }
    const { initCommand, readConfigFile } = await import('../ts/cli/experiment.js');
    const file = join(work, 'init.json');
    initCommand(file, { write: () => true });
    const written = readFileSync(file, 'utf8').replaceAll('../shared', sharedDir);
    writeFileSync(file, written);
    expect(resolveConfig(readConfigFile(file)).variants.length).toBe(6);
  });

  it('fills in the paper’s defaults', () => {
    const cfg = resolveConfig({
      outDir: join(work, 'd'),
      corpus: { reader: 'ravdess', path: sharedPath('data/ravdess') },
      noise: { matched: { reader: 'esc50', path: sharedPath('data/esc50') } },
    });
    expect(cfg.snrsDb).toEqual([20, 15, 10, 5, 0]);
    expect(cfg.variants).toEqual(['baseline-c', 'baseline-n', 'baseline-e', 'trnet', 'trnet-no-low', 'trnet-no-high']);
    expect(cfg.seeds.length).toBe(3);
    expect(cfg.features.frames).toBe(500);
    expect(cfg.features.waveformScale).toBe(1);
    expect(cfg.corpus.classes).toEqual(['angry', 'happy', 'neutral', 'sad']);
    expect(cfg.noise.split).toBe('disjoint');
  });
});

describe('matched-noise split', () => {
  it('keeps every source recording on one side and every ESC-50 category on both', () => {
    const clips = readEsc50(sharedPath('data/esc50'), { folds: [4] });
    const { train, test } = splitMatched(clips, 0.2, 0);
    expect(train.length + test.length).toBe(clips.length);
    const trainSources = new Set(train.map((c) => c.source));
    expect(test.some((c) => trainSources.has(c.source))).toBe(false);
    const categories = new Set(clips.map((c) => c.category));
    const multi = [...categories].filter((cat) => new Set(clips.filter((c) => c.category === cat).map((c) => c.source)).size >= 2);
    for (const cat of multi) {
      expect(train.some((c) => c.category === cat)).toBe(true);
      expect(test.some((c) => c.category === cat)).toBe(true);
    }
    expect(splitMatched(clips, 0.2, 0)).toEqual({ train, test }); // seeded
  });

  it('splits a folder of files (each its own recording) too, and says when it cannot', () => {
    const clips = readNoiseFolder(sharedPath('data/noise-speechcommands'));
    const { train, test } = splitMatched(clips, 0.3, 1);
    expect([train.length, test.length]).toEqual([4, 2]);
    expect(() => splitMatched(clips.slice(0, 1), 0.3, 1)).toThrow(/set noise.split to "shared"/);
  });
});

describe('corpus readers on generated layouts', () => {
  it('reads EmoDB names (speaker, emotion letter) and pairs one male with one female per session', () => {
    const root = join(work, 'emodb');
    mkdirSync(join(root, 'wav'), { recursive: true });
    for (const name of ['03a01Fa', '03a02Wb', '08a01Ta', '10b03Nc', '09a05La']) writeWav(join(root, 'wav', `${name}.wav`), tone);
    const utts = readEmodb(root);
    expect(utts.map((u) => [u.id, u.speaker, u.gender, u.emotion])).toEqual([
      ['03a01Fa', 'emodb03', 'male', 'happy'],
      ['03a02Wb', 'emodb03', 'male', 'angry'],
      ['08a01Ta', 'emodb08', 'female', 'sad'],
      ['09a05La', 'emodb09', 'female', 'bored'],
      ['10b03Nc', 'emodb10', 'male', 'neutral'],
    ]);
    const session = (s: string) => utts.find((u) => u.speaker === s)!.session;
    expect(session('emodb03')).toBe(session('emodb08'));
    expect(session('emodb10')).toBe(session('emodb09'));
    expect(session('emodb03')).not.toBe(session('emodb10'));
    writeWav(join(root, 'wav', 'notes.wav'), tone);
    expect(thrown(() => readEmodb(root)).message).toContain('notes.wav: expected a name like 03a01Fa.wav');
  });

  it('reads CREMA-D names with genders from VideoDemographics.csv', () => {
    const root = join(work, 'cremad');
    mkdirSync(join(root, 'AudioWAV'), { recursive: true });
    for (const name of ['1001_DFA_ANG_XX', '1001_IEO_HAP_HI', '1002_DFA_SAD_XX', '1003_ITS_NEU_XX', '1004_TAI_FEA_LO'])
      writeWav(join(root, 'AudioWAV', `${name}.wav`), tone);
    writeFileSync(
      join(root, 'VideoDemographics.csv'),
      'ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n1003,21,Female,Caucasian,Not Hispanic\n1004,42,Male,Caucasian,Not Hispanic\n',
    );
    const utts = readCremaD(root, { emotions: ['angry', 'happy', 'sad', 'neutral'] });
    expect(utts.length).toBe(4);
    expect(utts[0]).toMatchObject({ speaker: 'cremad1001', gender: 'male', emotion: 'angry' });
    const session = (s: string) => utts.find((u) => u.speaker === s)!.session;
    expect(session('cremad1001')).toBe(session('cremad1002'));
    expect(session('cremad1001')).not.toBe(session('cremad1003'));
  });

  it('reads CSV and JSONL manifests and reports every problem at once', () => {
    const dir = join(work, 'manifest');
    mkdirSync(join(dir, 'audio'), { recursive: true });
    for (const n of ['a', 'b', 'c', 'd']) writeWav(join(dir, 'audio', `${n}.wav`), tone);
    writeFileSync(
      join(dir, 'm.csv'),
      'path,label,speaker,session\naudio/a.wav,happy,s1,A\naudio/b.wav,sad,s2,A\n"audio/c.wav",angry,s3,B\naudio/d.wav,neutral,s4,B\n',
    );
    const csv = readManifest(join(dir, 'm.csv'));
    expect(csv.map((u) => [u.id, u.emotion, u.speaker, u.session])).toEqual([
      ['a', 'happy', 's1', 'A'],
      ['b', 'sad', 's2', 'A'],
      ['c', 'angry', 's3', 'B'],
      ['d', 'neutral', 's4', 'B'],
    ]);
    writeFileSync(
      join(dir, 'm.jsonl'),
      ['a', 'b', 'c', 'd'].map((n, i) => JSON.stringify({ path: join(dir, 'audio', `${n}.wav`), label: 'sad', speaker: `p${i}` })).join('\n'),
    );
    const jsonl = readManifest(join(dir, 'm.jsonl'));
    expect(new Set(jsonl.map((u) => u.session)).size).toBe(2); // speakers paired into sessions
    writeFileSync(join(dir, 'bad.csv'), 'path,label,speaker,session\naudio/a.wav,happy,s1,A\naudio/missing.wav,sad,s2,A\naudio/a.wav,sad,s1,B\n,sad,s3,B\n');
    const e = thrown(() => readManifest(join(dir, 'bad.csv')));
    expect(e.code).toBe('TRNET_CORPUS');
    expect(e.message).toContain('4 problem(s)');
    expect(e.message).toContain('missing.wav does not exist');
    expect(e.message).toContain('duplicate id "a"');
    expect(e.message).toContain('speaker s1 is in session B here and in A before');
    expect(e.message).toContain('line 5: expected a non-empty "path"');
  });
});

// A real experiment on ../shared: RAVDESS (6 actors = 3 sessions, 4 emotions), ESC-50 fold 4 matched, Speech
// Commands noise unmatched, 2 folds × 1 seed × all six variants, a tiny model and schedule.
const storeDir = join(work, 'store');
const config = (outDir: string): ExperimentConfig => tinyExperiment(outDir, storeDir);
const stripDir = (r: { summary: unknown; tasks: unknown }) => JSON.stringify({ summary: r.summary, tasks: r.tasks });
let reference: ExperimentResult;

describe('an experiment on real speech', () => {
  beforeAll(async () => {
    reference = await train(config(join(work, 'run-a')));
  }, 300_000);

  it('trains every variant, evaluates every condition and writes outputs that agree with each other', () => {
    expect(reference.tasks.length).toBe(12);
    expect(new Set(reference.tasks.map((t) => t.variant)).size).toBe(6);
    for (const t of reference.tasks) {
      expect(t.metrics.clean.n).toBeGreaterThan(0);
      expect(Object.keys(t.metrics.matched!.perSnr!).sort()).toEqual(['0', '10']);
      expect(Object.keys(t.metrics.unmatched!.perSnr!).sort()).toEqual(['0', '10']);
      const hasC = ['trnet', 'trnet-no-low', 'trnet-no-high'].includes(t.variant);
      expect(t.metrics.matched!.meanC === null).toBe(!hasC);
    }
    const results = JSON.parse(readFileSync(reference.files.results, 'utf8'));
    expect(results.tasksDone).toBe(12);
    // The table recomputed from predictions.csv equals results.json (4-digit probabilities do not change labels).
    const recomputed = metricsFromPredictions(reference.dir);
    for (const t of recomputed) {
      const stored = results.tasks.find((x: { id: string }) => x.id === t.id);
      expect(t.metrics.clean.uar).toBeCloseTo(stored.metrics.clean.uar, 12);
      expect(t.metrics.matched!.war).toBeCloseTo(stored.metrics.matched.war, 12);
      expect(t.metrics.unmatched!.perSnr!['0']!.uar).toBeCloseTo(stored.metrics.unmatched.perSnr['0'].uar, 12);
    }
    const md = readFileSync(reference.files.markdown, 'utf8');
    expect(md).toContain('| TRNet w/o L_low |');
    expect(md).toContain('Mean noise-level estimate c');
    const csv = readFileSync(reference.files.predictions, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('utterance,speaker,fold,seed,variant,condition,snr_db,label,prediction,p_angry,p_happy,p_neutral,p_sad,c');
    expect(openExperiment(reference.dir).tasks.every((t) => t.status === 'finished')).toBe(true);
  });

  it('skips finished tasks on a rerun, refuses a changed config, and regenerates reports', async () => {
    const events: string[] = [];
    const again = await train(config(join(work, 'run-a')), { onProgress: (p) => p.stage === 'task' && events.push(p.status) });
    expect(events).toEqual(Array(12).fill('skipped'));
    expect(stripDir(again)).toBe(stripDir(reference));
    const changed = { ...config(join(work, 'run-a')), seeds: [6] };
    await expect(train(changed)).rejects.toMatchObject({ code: 'TRNET_CONFIG_CHANGED', message: expect.stringContaining('seeds: [5] → [6]') });
    rmSync(reference.files.markdown);
    expect(stripDir(await report(reference.dir))).toBe(stripDir(reference));
    expect(existsSync(reference.files.markdown)).toBe(true);
    await expect(report(join(work, 'nothing-here'))).rejects.toThrow(expect.objectContaining({ code: 'TRNET_EXPERIMENT_NOT_FOUND' }));
  });

  it('resumes after an abort in the middle of a task to the same results', async () => {
    const controller = new AbortController();
    const outDir = join(work, 'run-b');
    let trained = 0;
    const first = train(config(outDir), {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.stage === 'train' && p.task.endsWith('/trnet') && p.epoch >= 1 && ++trained === 2) controller.abort();
      },
    });
    await expect(first).rejects.toSatisfy(isAbortError);
    const state = openExperiment(outDir);
    expect(state.tasks.some((t) => t.status === 'started')).toBe(true);
    expect(state.tasks.some((t) => t.status === 'pending')).toBe(true);
    const resumed = await train(config(outDir));
    expect(stripDir(resumed)).toBe(stripDir(reference));
  }, 300_000);

  it('resumes after the process is killed (SIGKILL) to the same results', async () => {
    const outDir = join(work, 'run-c');
    const file = join(work, 'c.json');
    writeFileSync(file, JSON.stringify(config(outDir)));
    const child = spawn(process.execPath, [join(repoRoot, 'bin/trnet.mjs'), 'train', file, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        if (buffer.split('\n').some((l) => l.includes('"stage":"train"') && l.includes('/baseline-e"') && l.includes('"epoch":1'))) child.kill('SIGKILL');
      });
      child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the run ended before it was killed (signal ${signal})`))));
    });
    const resumed = await train(config(outDir));
    expect(stripDir(resumed)).toBe(stripDir(reference));
    // A copy of a finished experiment folder reports the same without training.
    cpSync(outDir, join(work, 'run-d'), { recursive: true });
    expect(stripDir(await report(join(work, 'run-d')))).toBe(stripDir(reference));
  }, 300_000);

  it('runs two tasks at once (tasksPerDevice 2) to the same results; an abort stops both, resumably', async () => {
    const outDir = join(work, 'run-f');
    const k2 = { ...config(outDir), tasksPerDevice: 2 };
    const controller = new AbortController();
    const inFlight = new Set<string>();
    let most = 0;
    const first = train(k2, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.stage === 'train') inFlight.add(p.task);
        if (p.stage === 'task') inFlight.delete(p.task);
        most = Math.max(most, inFlight.size);
        // Two stage-2 tasks training at the same time: stop both.
        if (p.stage === 'train' && inFlight.size === 2 && [...inFlight].every((t) => !t.endsWith('/baseline-c'))) controller.abort();
      },
    });
    await expect(first).rejects.toSatisfy(isAbortError);
    expect(most).toBe(2);
    const state = openExperiment(outDir);
    // Both running tasks stopped with their state saved and their locks released.
    expect(state.tasks.filter((t) => t.status === 'started').length).toBeGreaterThanOrEqual(2);
    for (const t of state.tasks) expect(existsSync(join(outDir, 'tasks', t.id, '.lock')), t.id).toBe(false);
    const resumed = await train(k2);
    expect(stripDir(resumed)).toBe(stripDir(reference));
    // How many tasks share the device is not part of the experiment: another count reruns the same folder.
    const events: string[] = [];
    await train({ ...config(outDir), tasksPerDevice: 3 }, { onProgress: (p) => p.stage === 'task' && events.push(p.status) });
    expect(events).toEqual(Array(12).fill('skipped'));
  }, 600_000);

  it('runs task by task (as job-array elements do) to the same results, refusing a stage-2 task before its reference', async () => {
    const cfg = config(join(work, 'run-e'));
    const tasks = listTasks(cfg);
    expect(tasks.map((t) => t.stage)).toEqual([1, 1, ...Array(10).fill(2)]);
    expect(tasks[2]!.needs).toBe(tasks[0]!.id);
    await expect(runExperimentTask(cfg, 2)).rejects.toMatchObject({ code: 'TRNET_TASK_NOT_READY' });
    await expect(runExperimentTask(cfg, 12)).rejects.toMatchObject({ code: 'TRNET_INVALID_ARGUMENT' });
    for (const t of tasks) expect((await runExperimentTask(cfg, t.index)).status).toBe('finished');
    expect((await runExperimentTask(cfg, 0)).status).toBe('skipped');
    expect(stripDir(await report(cfg.outDir))).toBe(stripDir(reference));
  }, 300_000);
});

describe('task index from the scheduler', () => {
  it('reads --index, then SLURM_ARRAY_TASK_ID, then JOB_COMPLETION_INDEX, and refuses junk', async () => {
    const { taskIndex } = await import('../ts/cli/experiment.js');
    expect(taskIndex('3', { SLURM_ARRAY_TASK_ID: '5' })).toBe(3);
    expect(taskIndex(undefined, { SLURM_ARRAY_TASK_ID: '5', JOB_COMPLETION_INDEX: '7' })).toBe(5);
    expect(taskIndex(undefined, { JOB_COMPLETION_INDEX: '7' })).toBe(7);
    expect(() => taskIndex(undefined, {})).toThrow(/SLURM_ARRAY_TASK_ID/);
    expect(() => taskIndex('-1', {})).toThrow(/--index: expected a non-negative integer, found "-1"/);
  });
});
