import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildFeatureSet,
  configureMalloc,
  evaluate,
  type FeatureSet,
  isAbortError,
  type ModelConfig,
  readEsc50,
  readRavdess,
  resumeTraining,
  select,
  type TrainProgress,
  train,
  type UtteranceSpec,
} from '../ts/index.js';
import { sharedPath } from './shared.js';

// A small but real run: RAVDESS actors 1–6, four emotions, ESC-50 noise, the classical enhancer, a narrow model.
const EMOTIONS = ['neutral', 'happy', 'sad', 'angry'];
const corpus = readRavdess(sharedPath('data/ravdess'), { emotions: EMOTIONS }).filter((u) => Number(u.speaker.slice(6)) <= 6);
const spec = (speakers: string[]): UtteranceSpec[] =>
  select(corpus, speakers).map((u) => ({ path: u.path, label: EMOTIONS.indexOf(u.emotion), speaker: u.speaker, id: u.id }));
const noises = readEsc50(sharedPath('data/esc50'), { folds: [4] });
const trainNoise = noises.slice(0, 4).map((n) => n.path);
const testNoise = noises.slice(200, 202).map((n) => n.path);
const small = { channels: [8, 16, 16, 32], numClasses: 4 };
const common = { frames: 200, enhancer: { kind: 'classical' } };
const work = mkdtempSync(join(tmpdir(), 'trnet-train-test-'));
let cleanTrain: FeatureSet, mixedTrain: FeatureSet, cleanVal: FeatureSet, mixedVal: FeatureSet, test: FeatureSet;

beforeAll(async () => {
  const trainSpeakers = ['Actor_03', 'Actor_04', 'Actor_05', 'Actor_06'];
  cleanTrain = await buildFeatureSet(spec(trainSpeakers), { ...common, noisy: 'none' });
  cleanVal = await buildFeatureSet(spec(['Actor_02']), { ...common, noisy: 'none' });
  mixedTrain = await buildFeatureSet(spec(trainSpeakers), { ...common, noises: trainNoise, seed: 1 });
  mixedVal = await buildFeatureSet(spec(['Actor_02']), { ...common, noises: trainNoise, seed: 2 });
  test = await buildFeatureSet(spec(['Actor_01']), { ...common, noises: testNoise, noisy: 'one-per-snr', includeClean: false, snrsDb: [10, 0], seed: 3 });
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('feature sets from real audio', () => {
  it('hold clean, noisy and per-SNR items with the asked frame count', () => {
    expect(cleanTrain.length).toBe(4 * 28);
    expect(mixedTrain.length).toBe(2 * 4 * 28); // clean + one noisy copy each
    expect(test.length).toBe(2 * 28); // every utterance at 10 and 0 dB
    expect([test.frames, test.bins]).toEqual([200, 80]);
    expect(cleanTrain.classCounts(4)).toEqual([16, 32, 32, 32]);
  });
});

describe('training from Node', () => {
  it('trains Baseline-c, then TRNet against it, with ordered progress, and evaluates the best checkpoint', async () => {
    const baseline = await train({
      modelConfig: { variant: 'baseline-c', ...small },
      trainConfig: { epochs: 2, batchSize: 16, seed: 7 },
      trainSet: cleanTrain,
      valSet: cleanVal,
      outDir: join(work, 'baseline-c'),
    });
    expect(baseline.epochsRun).toBe(2);
    expect(existsSync(join(baseline.bestDir, 'model.safetensors'))).toBe(true);

    const events: TrainProgress[] = [];
    const modelConfig: ModelConfig = { variant: 'trnet', ...small };
    const report = await train(
      {
        modelConfig,
        trainConfig: { epochs: 2, batchSize: 16, seed: 7 },
        trainSet: mixedTrain,
        valSet: mixedVal,
        reference: baseline.bestDir,
        outDir: join(work, 'trnet'),
      },
      { onProgress: (p) => events.push(p) },
    );
    expect(report.variant).toBe('trnet');
    expect(report.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(report.best.uar).toBeGreaterThanOrEqual(0);
    expect(report.best.uar).toBeLessThanOrEqual(1);
    const steps = events.filter((e) => e.stage === 'step');
    expect(steps.map((e) => e.done)).toEqual(Array.from({ length: report.globalSteps }, (_, i) => i + 1));
    expect(steps.every((e) => Number.isFinite(e.loss) && e.low !== undefined && e.high !== undefined)).toBe(true);
    const epochs = events.filter((e) => e.stage === 'epoch');
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(epochs.every((e) => e.valUar !== undefined)).toBe(true);

    const result = await evaluate(report.bestDir, test);
    expect(result.predictions.length).toBe(test.length);
    expect(result.confusion.flat().reduce((a, b) => a + b, 0)).toBe(test.length);
    for (const p of result.predictions) {
      expect(p.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(p.c).not.toBeNull();
      expect(p.c!).toBeGreaterThanOrEqual(0);
      expect(p.c!).toBeLessThanOrEqual(1);
    }
  });

  it('trains and evaluates every one of the six variants', async () => {
    const reference = await train({
      modelConfig: { variant: 'baseline-c', ...small },
      trainConfig: { epochs: 1, batchSize: 32, seed: 3 },
      trainSet: cleanTrain,
      valSet: cleanVal,
      outDir: join(work, 'six-ref'),
    });
    for (const variant of ['baseline-c', 'baseline-n', 'baseline-e', 'trnet', 'trnet-no-low', 'trnet-no-high'] as const) {
      const clean = variant === 'baseline-c';
      const report = await train({
        modelConfig: { variant, ...small },
        trainConfig: { epochs: 1, batchSize: 32, seed: 3 },
        trainSet: clean ? cleanTrain : mixedTrain,
        valSet: clean ? cleanVal : mixedVal,
        reference: reference.bestDir,
        outDir: join(work, `six-${variant}`),
      });
      expect(report.variant).toBe(variant);
      const result = await evaluate(report.bestDir, test);
      expect(result.uar).toBeGreaterThanOrEqual(0);
      expect(result.uar).toBeLessThanOrEqual(1);
      // Only the variants with an SNR-aware module estimate c.
      expect(result.predictions[0]!.c === null).toBe(variant.startsWith('baseline'));
    }
    // Seven trainings: 20-40 s on a quiet 2-core machine, past the default 60 s once under heavy load.
  }, 240_000);

  it('tunes malloc for jobs by default, can switch it off, and evaluates to the same bits either way', async () => {
    const glibc = configureMalloc().supported;
    expect(configureMalloc()).toMatchObject({ mode: 'fast', jobs: 0 });
    const report = await train({
      modelConfig: { variant: 'trnet-no-high', ...small },
      trainConfig: { epochs: 1, batchSize: 32, seed: 5 },
      trainSet: mixedTrain,
      valSet: mixedVal,
      outDir: join(work, 'malloc'),
    });
    // The fast settings are in force only while a job runs: glibc's values again afterwards.
    expect(configureMalloc()).toEqual({ mode: 'fast', applied: false, supported: glibc, jobs: 0 });
    const fast = await evaluate(report.bestDir, test);
    try {
      expect(configureMalloc('default')).toEqual({ mode: 'default', applied: glibc, supported: glibc, jobs: 0 });
      const plain = await evaluate(report.bestDir, test);
      expect(plain).toEqual(fast);
    } finally {
      configureMalloc('fast');
    }
    expect(configureMalloc()).toMatchObject({ mode: 'fast', applied: false }); // until the next job starts
    expect(() => configureMalloc('lean' as never)).toThrow(expect.objectContaining({ code: 'TRNET_INVALID_ARGUMENT' }));
  });

  it('trains with the SNR-aware module options of issue 15, records them with the checkpoint, and refuses bad values', async () => {
    const options = { snrStandardize: true, snrCentred: true, snrClamp: 'leaky', headInit: 'snr-random' } as const;
    const report = await train({
      modelConfig: { variant: 'trnet-no-high', ...small, ...options },
      trainConfig: { epochs: 1, batchSize: 32, seed: 4, snrHeadLrMultiplier: 10 },
      trainSet: mixedTrain,
      valSet: mixedVal,
      outDir: join(work, 'snr-options'),
    });
    expect(JSON.parse(readFileSync(join(report.bestDir, 'config.json'), 'utf8'))).toMatchObject(options);
    const result = await evaluate(report.bestDir, test);
    for (const p of result.predictions) {
      expect(p.c).toBeGreaterThanOrEqual(0);
      expect(p.c).toBeLessThanOrEqual(1);
    }
    for (const [modelConfig, trainConfig, field] of [
      [{ snrClamp: 'soft' }, {}, 'soft'],
      [{}, { snrHeadLrMultiplier: 0 }, 'snrHeadLrMultiplier'],
    ] as const) {
      await expect(
        train({
          modelConfig: { variant: 'trnet-no-high', ...small, ...(modelConfig as object) },
          trainConfig: { epochs: 1, ...trainConfig },
          trainSet: mixedTrain,
          valSet: mixedVal,
          outDir: join(work, `snr-bad-${field}`),
        }),
      ).rejects.toMatchObject({ code: 'TRNET_INVALID_CONFIG', message: expect.stringContaining(field) });
    }
  });

  it('refuses TRNet without the clean reference model, with a coded error', async () => {
    await expect(
      train({ modelConfig: { variant: 'trnet', ...small }, trainConfig: { epochs: 1 }, trainSet: mixedTrain, valSet: mixedVal, outDir: join(work, 'no-ref') }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^TRNET_/) });
  });

  it('rejects an unknown config field instead of ignoring it', async () => {
    await expect(
      train({
        modelConfig: { variant: 'baseline-n', ...small },
        trainConfig: { epochz: 3 } as never,
        trainSet: mixedTrain,
        valSet: mixedVal,
        outDir: join(work, 'typo'),
      }),
    ).rejects.toMatchObject({ code: 'TRNET_INVALID_CONFIG', message: expect.stringContaining('epochz') });
  });

  it('stops on abort and resumes to the same result as an uninterrupted run', async () => {
    const base = {
      modelConfig: { variant: 'baseline-n', ...small } as ModelConfig,
      trainConfig: { epochs: 3, batchSize: 16, seed: 11 },
      trainSet: mixedTrain,
      valSet: mixedVal,
    };
    const straight = await train({ ...base, outDir: join(work, 'straight') });
    const controller = new AbortController();
    const stopped = await train(
      { ...base, outDir: join(work, 'interrupted') },
      { signal: controller.signal, onProgress: (p) => p.stage === 'epoch' && p.epoch === 1 && controller.abort() },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAbortError(stopped)).toBe(true);
    const resumed = await resumeTraining({ ...base, outDir: join(work, 'interrupted') });
    expect(resumed.best).toEqual(straight.best);
    expect(resumed.history.map((h) => h.val)).toEqual(straight.history.map((h) => h.val));
  });
});
