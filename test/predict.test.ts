/**
 * Predictions from raw audio with a model trained by `train(config)` (issue 13, first step): a tiny real experiment
 * on RAVDESS, then `load(task folder)` and `predict` on files, Buffers and samples. The prediction of a test
 * utterance equals the experiment's own evaluation of it (clean condition), which proves the pipeline (decode,
 * cut, SE, fbank, frame fixing, forward) is the training one.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureMalloc, decodeAudio, type ExperimentConfig, type ExperimentResult, load, type PredictResult, readRavdess, train } from '../ts/index.js';
import { readEmbeddings } from '../ts/report/embeddings.js';
import { codeOf, repoRoot, sharedPath, tinyExperiment } from './shared.js';

const work = mkdtempSync(join(tmpdir(), 'trnet-predict-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const outDir = join(work, 'exp');
const config: ExperimentConfig = tinyExperiment(outDir, undefined, {
  noise: { matched: { reader: 'esc50', path: sharedPath('data/esc50'), folds: [4], limit: 40 }, unmatched: null },
  folds: { limit: 1 },
  snrsDb: [10],
  variants: ['baseline-c', 'trnet'],
  training: { epochs: 1, batchSize: 32 },
});

interface Row {
  utterance: string;
  condition: string;
  probs: number[];
  c: number | null;
}

let result: ExperimentResult;
let trnetDir: string;
let baselineDir: string;
let rows: Row[];
const paths = new Map(readRavdess(sharedPath('data/ravdess')).map((u) => [u.id, u.path]));

function checkShape(p: PredictResult, classes: string[]) {
  expect(Object.keys(p.probabilities)).toEqual(classes);
  const values = Object.values(p.probabilities);
  expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  for (const v of values) expect(v).toBeGreaterThanOrEqual(0);
  expect(p.probabilities[p.label]).toBe(Math.max(...values));
}

describe('predictions from raw audio with a trained model', () => {
  beforeAll(async () => {
    result = await train(config);
    const fold = result.tasks[0]!.fold;
    trnetDir = join(outDir, 'tasks', fold, 'seed-5', 'trnet');
    baselineDir = join(outDir, 'tasks', fold, 'seed-5', 'baseline-c');
    rows = (JSON.parse(readFileSync(join(trnetDir, 'evaluation.json'), 'utf8')) as { rows: Row[] }).rows.filter((r) => r.condition === 'clean');
  }, 400_000);

  it('equals the evaluation of the same test utterances (clean condition) within 1e-4', async () => {
    const model = await load(trnetDir);
    expect(model.variant).toBe('trnet');
    expect(model.classes).toEqual(['angry', 'happy', 'neutral', 'sad']);
    const some = rows.slice(0, 6);
    expect(some.length).toBeGreaterThan(3);
    const preds = await model.predictBatch(some.map((r) => paths.get(r.utterance)!));
    some.forEach((r, i) => {
      const p = preds[i]!;
      checkShape(p, model.classes as string[]);
      for (const [k, name] of model.classes.entries()) expect(Math.abs(p.probabilities[name]! - r.probs[k]!), `${r.utterance} ${name}`).toBeLessThan(1e-4);
      expect(p.c).not.toBeNull();
      expect(Math.abs(p.c! - r.c!)).toBeLessThan(1e-4);
      expect(p.c!).toBeGreaterThanOrEqual(0);
      expect(p.c!).toBeLessThanOrEqual(1);
    });
    // One at a time gives the batch's numbers.
    const single = await model.predict(paths.get(some[0]!.utterance)!);
    expect(single.label).toBe(preds[0]!.label);
    for (const name of model.classes) expect(single.probabilities[name]).toBeCloseTo(preds[0]!.probabilities[name]!, 5);
    model.close();
  });

  it('equals the evaluation on one libtorch thread too, where the convs run on trnet’s own AVX-512 kernel', async () => {
    // With one intra-op thread (on a CPU with AVX-512F) the folded encoder's convs leave libtorch for
    // trnet_model's direct conv kernel; the numbers must stay the evaluation's.
    const model = await load(trnetDir, { intraOpThreads: 1 });
    const some = rows.slice(0, 6);
    const preds = await model.predictBatch(some.map((r) => paths.get(r.utterance)!));
    some.forEach((r, i) => {
      for (const [k, name] of model.classes.entries())
        expect(Math.abs(preds[i]!.probabilities[name]! - r.probs[k]!), `${r.utterance} ${name}`).toBeLessThan(1e-4);
      expect(Math.abs(preds[i]!.c! - r.c!)).toBeLessThan(1e-4);
    });
    model.close();
  });

  it('returns the representation the experiment saved for the t-SNE when asked ({ embedding: true })', async () => {
    const saved = readEmbeddings(trnetDir);
    expect(saved).not.toBeNull();
    const clean = saved!.index.rows
      .map((r, i) => ({ r, i }))
      .filter(({ r }) => r.condition === 'clean')
      .slice(0, 4);
    expect(clean.length).toBeGreaterThan(1);
    const model = await load(trnetDir);
    const preds = await model.predictBatch(
      clean.map(({ r }) => paths.get(r.utterance)!),
      { embedding: true },
    );
    const dim = saved!.index.dim;
    clean.forEach(({ i }, k) => {
      const e = preds[k]!.embedding!;
      expect(e).toBeInstanceOf(Float32Array);
      expect(e.length).toBe(dim);
      const want = saved!.values.subarray(i * dim, (i + 1) * dim);
      let worst = 0;
      for (let j = 0; j < dim; j++) worst = Math.max(worst, Math.abs(e[j]! - want[j]!));
      expect(worst).toBeLessThan(1e-4);
    });
    // Without the option there is none, and the rest is the same.
    const plain = await model.predict(paths.get(clean[0]!.r.utterance)!);
    expect(plain.embedding).toBeUndefined();
    for (const name of model.classes) expect(plain.probabilities[name]).toBeCloseTo(preds[0]!.probabilities[name]!, 5);
    expect(await codeOf(model.predict(paths.get(clean[0]!.r.utterance)!, { embedding: 'yes' } as never))).toBe('TRNET_INVALID_ARGUMENT');
    model.close();
  });

  it('takes a file path, a Buffer of encoded audio or samples at any rate, and pads very short clips', async () => {
    const model = await load(join(trnetDir, 'run'));
    const file = paths.get(rows[0]!.utterance)!;
    const fromPath = await model.predict(file);
    const fromBuffer = await model.predict(readFileSync(file));
    const at16k = await model.predict({ samples: decodeAudio(file).samples, sampleRate: 16_000 });
    // Same samples, same numbers.
    for (const p of [fromBuffer, at16k]) {
      expect(p.probabilities).toEqual(fromPath.probabilities);
      expect(p.c).toBe(fromPath.c);
    }
    // The shared RAVDESS copy is 16 kHz: its samples upsampled to 48 kHz are resampled back natively (the
    // decoder's resampler), which changes samples by ~1e-4, so the numbers are close, not equal.
    const at48k = decodeAudio(file, { targetRate: 48_000 });
    expect(at48k.sourceSampleRate).toBe(16_000);
    const fromSamples = await model.predict({ samples: at48k.samples, sampleRate: 48_000 });
    expect(fromSamples.label).toBe(fromPath.label);
    for (const name of model.classes) expect(Math.abs(fromSamples.probabilities[name]! - fromPath.probabilities[name]!)).toBeLessThan(5e-3);
    expect(Math.abs(fromSamples.c! - fromPath.c!)).toBeLessThan(5e-3);
    // 0.1 s: 8 frames of 100, padded as in training.
    const short = await model.predict({ samples: decodeAudio(file).samples.slice(16_000, 17_600), sampleRate: 16_000 });
    checkShape(short, model.classes as string[]);
    model.close();
  });

  // bf16 (load's precision): on a CPU with AVX-512 BF16 the encoder's convs run in bfloat16; elsewhere loading
  // that way is TRNET_DEVICE_UNAVAILABLE. The bound: bench/precision.ts measured |Δp| ≤ 7.3e-3 (99th percentile
  // 3.8e-3) over 400 RAVDESS utterances with two trained demo models and 1.1e-3 with the paper-size bench model,
  // labels equal on all of them; 0.02 leaves room for another model's weights. c never goes through the encoder, so
  // it stays f32: equal. A label may only flip where fp32's top two probabilities are within 2 × the bound.
  it('predicts in bf16 within 0.02 of fp32 (same c, same labels where not nearly tied), or says the CPU lacks it', async () => {
    const hasBf16 = readFileSync('/proc/cpuinfo', 'utf8').includes(' avx512_bf16');
    if (!hasBf16) {
      expect(await codeOf(load(trnetDir, { precision: 'bf16' }))).toBe('TRNET_DEVICE_UNAVAILABLE');
      return;
    }
    const [fp32, bf16] = [await load(trnetDir), await load(trnetDir, { precision: 'bf16' })];
    expect([fp32.precision, bf16.precision]).toEqual(['fp32', 'bf16']);
    const files = rows.slice(0, 8).map((r) => paths.get(r.utterance)!);
    const [a, b] = [await fp32.predictBatch(files), await bf16.predictBatch(files)];
    let worst = 0;
    a.forEach((p, i) => {
      const q = b[i]!;
      checkShape(q, fp32.classes as string[]);
      for (const k of fp32.classes) worst = Math.max(worst, Math.abs(p.probabilities[k]! - q.probabilities[k]!));
      expect(q.c).toBe(p.c);
      const [first, second] = Object.values(p.probabilities).sort((x, y) => y - x);
      if (first! - second! > 0.04) expect(q.label).toBe(p.label);
    });
    expect(worst).toBeLessThan(0.02);
    // Not the fp32 numbers: the convs did run in bf16.
    expect(worst).toBeGreaterThan(0);
    fp32.close();
    bf16.close();
    expect(await codeOf(load(trnetDir, { precision: 'fp16' } as never))).toBe('TRNET_INVALID_ARGUMENT');
  });

  it('gives c = null for a variant without the SNR-aware module', async () => {
    const model = await load(baselineDir);
    const p = await model.predict(paths.get(rows[0]!.utterance)!);
    checkShape(p, model.classes as string[]);
    expect(p.c).toBeNull();
    model.close();
  });

  it('serves 50 concurrent predictions on one model', async () => {
    const model = await load(trnetDir);
    const files = rows.slice(0, 5).map((r) => paths.get(r.utterance)!);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => model.predict(files[i % files.length]!)));
    clearInterval(timer);
    expect(all).toHaveLength(50);
    // Every prediction of the same file is the same.
    for (let i = 5; i < 50; i++) expect(all[i]!.probabilities).toEqual(all[i % 5]!.probabilities);
    // The event loop ran while the jobs did.
    expect(ticks).toBeGreaterThan(0);
    model.close();
  }, 120_000);

  it('fails a closed model with TRNET_MODEL_CLOSED', async () => {
    const model = await load(trnetDir);
    model.close();
    expect(model.closed).toBe(true);
    expect(await codeOf(model.predict(paths.get(rows[0]!.utterance)!))).toBe('TRNET_MODEL_CLOSED');
    model.close(); // twice is fine
  });

  it('loads a bare checkpoint folder only with its settings, and gives the task folder’s numbers', async () => {
    const best = join(trnetDir, 'run', 'best');
    const bare = join(work, 'bare');
    cpSync(best, bare, { recursive: true });
    expect(await codeOf(load(bare))).toBe('TRNET_INVALID_ARGUMENT');
    const settings = { classes: ['angry', 'happy', 'neutral', 'sad'], features: { frames: 100 }, enhancer: { kind: 'classical' } };
    expect(await codeOf(load(bare, { ...settings, classes: ['a', 'b'] }))).toBe('TRNET_INVALID_ARGUMENT');
    expect(await codeOf(load(bare, { ...settings, features: { frames: 100, fbank: { numMelBins: 40 } } }))).toBe('TRNET_INVALID_ARGUMENT');
    const model = await load(bare, settings);
    const task = await load(trnetDir);
    const file = paths.get(rows[1]!.utterance)!;
    expect((await model.predict(file)).probabilities).toEqual((await task.predict(file)).probabilities);
    model.close();
    task.close();
  });

  it('keeps its SE front end and its memory from load to close: one ONNX session per model, not one per prediction', async () => {
    const settings = { classes: ['angry', 'happy', 'neutral', 'sad'], features: { frames: 100 } };
    const bare = join(work, 'bare-se');
    cpSync(join(trnetDir, 'run', 'best'), bare, { recursive: true });
    const onnx = join(work, 'se.onnx');
    cpSync(sharedPath('models/gtcrn/gtcrn_simple.onnx'), onnx);
    const enhancer = { kind: 'gtcrn', model: onnx };
    const jobs = configureMalloc().jobs;
    const model = await load(bare, { ...settings, enhancer });
    // A loaded model is one job for the allocator (its predictions reuse their memory) until it is closed.
    expect(configureMalloc().jobs).toBe(jobs + 1);
    const file = paths.get(rows[0]!.utterance)!;
    const before = await model.predict(file);
    // The session was made by load(): predictions go on without the file, which a session per call would reload.
    rmSync(onnx);
    const after = await model.predict(file);
    expect(after.probabilities).toEqual(before.probabilities);
    expect(after.c).toBe(before.c);
    model.close();
    expect(configureMalloc().jobs).toBe(jobs);
    expect(await codeOf(model.predict(file))).toBe('TRNET_MODEL_CLOSED');
    // An SE model that does not load fails load(), before any audio …
    expect(await codeOf(load(bare, { ...settings, enhancer }))).toBe('TRNET_MODEL_LOAD');
    // … except for a variant that never reads Xe, which holds no SE front end.
    const baseline = join(work, 'bare-se-baseline');
    cpSync(join(baselineDir, 'run', 'best'), baseline, { recursive: true });
    const b = await load(baseline, { ...settings, enhancer });
    checkShape(await b.predict(file), settings.classes);
    b.close();
  });

  it('refuses corrupted weights, non-model folders and bad inputs with coded errors', async () => {
    const damaged = join(work, 'damaged');
    cpSync(join(trnetDir, 'run', 'best'), damaged, { recursive: true });
    const weights = join(damaged, 'model.safetensors');
    const bytes = readFileSync(weights);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    writeFileSync(weights, bytes);
    const settings = { classes: ['angry', 'happy', 'neutral', 'sad'], features: { frames: 100 }, enhancer: {} };
    expect(await codeOf(load(damaged, settings))).toBe('TRNET_CHECKPOINT_CORRUPT');
    mkdirSync(join(work, 'empty'));
    expect(await codeOf(load(join(work, 'empty')))).toBe('TRNET_CHECKPOINT_NOT_FOUND');
    expect(await codeOf(load(join(work, 'nothing-here')))).toBe('TRNET_CHECKPOINT_NOT_FOUND');
    expect(await codeOf(load(outDir))).toBe('TRNET_CHECKPOINT_NOT_FOUND');
    expect(await codeOf(load(trnetDir, { extra: 1 } as never))).toBe('TRNET_INVALID_ARGUMENT');
    const model = await load(trnetDir);
    expect(await codeOf(model.predict(42 as never))).toBe('TRNET_INVALID_ARGUMENT');
    expect(await codeOf(model.predict({ samples: new Float32Array(100), sampleRate: 0 }))).toBe('TRNET_INVALID_ARGUMENT');
    expect(await codeOf(model.predict(Buffer.from('not audio at all')))).toMatch(/^TRNET_AUDIO_/);
    expect(await codeOf(model.predict(join(work, 'missing.wav')))).toBe('TRNET_AUDIO_MISSING');
    // A batch names the input the SE front end or the fbank refused.
    const good = { samples: new Float32Array(16_000).map((_, i) => Math.sin(i / 10) * 0.1), sampleRate: 16_000 };
    const nan = { samples: good.samples.slice(), sampleRate: 16_000 };
    nan.samples[500] = Number.NaN;
    await expect(model.predictBatch([good, nan])).rejects.toMatchObject({
      code: 'TRNET_INVALID_ARGUMENT',
      message: expect.stringMatching(/^input 1: the SE front end failed: .*NaN at sample 500/),
    });
    const nan44k = { samples: new Float32Array(44_100), sampleRate: 44_100 };
    nan44k.samples[7] = Number.POSITIVE_INFINITY;
    await expect(model.predictBatch([good, good, nan44k])).rejects.toMatchObject({
      code: 'TRNET_INVALID_ARGUMENT',
      message: expect.stringMatching(/^input 2: samples: expected finite numbers, found inf at sample 7/),
    });
    await expect(model.predictBatch([good, join(work, 'missing.wav')])).rejects.toMatchObject({
      code: 'TRNET_AUDIO_MISSING',
      message: expect.stringMatching(/^input 1: /),
    });
    await expect(model.predictBatch([good, { samples: new Float32Array(100), sampleRate: 16_000 }])).rejects.toMatchObject({
      code: 'TRNET_INVALID_ARGUMENT',
      message: expect.stringMatching(/^input 1: no features: waveform length: expected at least one frame/),
    });
    model.close();
  });

  it('refuses an SE front end other than the one recorded at training, unless allowed', async () => {
    // A copy of the experiment's records and one task's checkpoint, with the record or the config changed.
    const copy = (name: string, edit: (record: Record<string, unknown>, cfg: Record<string, unknown>) => void) => {
      const root = join(work, name);
      const rel = trnetDir.slice(outDir.length + 1);
      cpSync(join(trnetDir, 'run', 'best'), join(root, rel, 'run', 'best'), { recursive: true });
      cpSync(join(outDir, 'plan.json'), join(root, 'plan.json'));
      const record = JSON.parse(readFileSync(join(outDir, 'enhancer.json'), 'utf8'));
      const cfg = JSON.parse(readFileSync(join(outDir, 'config.json'), 'utf8'));
      edit(record, cfg);
      writeFileSync(join(root, 'enhancer.json'), JSON.stringify(record));
      writeFileSync(join(root, 'config.json'), JSON.stringify(cfg));
      return join(root, rel);
    };
    const recorded = JSON.parse(readFileSync(join(outDir, 'enhancer.json'), 'utf8'));
    expect(recorded.kind).toBe('classical');
    expect(recorded.fingerprint).toMatch(/\S/);
    const other = copy('other-se', (r) => {
      r.kind = 'gtcrn';
      r.model = '/models/gtcrn.onnx';
      r.modelSha256 = 'ab'.repeat(32);
      r.fingerprint = 'gtcrn-utterance-v1-abab';
    });
    const err = await load(other).catch((e: Error & { code?: string }) => e);
    expect((err as { code?: string }).code).toBe('TRNET_ENHANCER_MISMATCH');
    expect((err as Error).message).toContain('/models/gtcrn.onnx');
    expect((err as Error).message).toContain(recorded.fingerprint);
    (await load(other, { allowDifferentEnhancer: true })).close();
    const missing = copy('missing-se', (_r, cfg) => {
      cfg.enhancer = { kind: 'gtcrn', model: join(work, 'gone.onnx') };
    });
    const err2 = await load(missing).catch((e: Error) => e);
    expect((err2 as { code?: string }).code).toBe('TRNET_ENHANCER_MISMATCH');
    expect((err2 as Error).message).toContain('gone.onnx');
    expect((err2 as Error).message).toContain('classical');
  });

  it('trnet predict prints a table or JSON lines, and reports a bad file with exit code 1', () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'bin/trnet.mjs'), ...args], { encoding: 'utf8', timeout: 120_000 });
    const some = rows.slice(0, 2);
    const files = some.map((r) => paths.get(r.utterance)!);
    const j = cli('predict', trnetDir, ...files, '--json');
    expect(j.status, j.stderr).toBe(0);
    const lines = j.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PredictResult & { file: string });
    expect(lines.map((l) => l.file)).toEqual(files);
    for (const [i, l] of lines.entries()) {
      for (const [k, name] of ['angry', 'happy', 'neutral', 'sad'].entries()) expect(Math.abs(l.probabilities[name]! - some[i]!.probs[k]!)).toBeLessThan(1e-4);
    }
    const missing = join(work, 'missing.wav');
    const t = cli('predict', trnetDir, files[0]!, missing);
    expect(t.status).toBe(1);
    expect(t.stdout).toMatch(/^file\s+label\s+angry\s+happy\s+neutral\s+sad\s+c$/m);
    expect(t.stdout).toContain(`${lines[0]!.label}  `);
    expect(t.stderr).toContain(`${missing}: TRNET_AUDIO_MISSING`);
    const usage = cli('predict', trnetDir);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('predict: expected a model folder');
    const badPrecision = cli('predict', trnetDir, files[0]!, '--precision', 'fp16');
    expect(badPrecision.status).toBe(2);
    expect(badPrecision.stderr).toContain('--precision: expected fp32 or bf16, found "fp16"');
    expect(cli('--help').stdout).toContain('[--precision fp32|bf16]');
    // bf16 where the CPU has it (else the coded error, exit 1 like a model that does not load).
    const b = cli('predict', trnetDir, files[0]!, '--json', '--precision', 'bf16');
    if (readFileSync('/proc/cpuinfo', 'utf8').includes(' avx512_bf16')) {
      expect(b.status, b.stderr).toBe(0);
      const p = JSON.parse(b.stdout.trim()) as PredictResult;
      for (const name of ['angry', 'happy', 'neutral', 'sad']) expect(Math.abs(p.probabilities[name]! - lines[0]!.probabilities[name]!)).toBeLessThan(0.02);
    } else {
      expect(b.stderr).toContain('TRNET_DEVICE_UNAVAILABLE');
    }
  }, 120_000);
});
