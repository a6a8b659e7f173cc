/**
 * Long audio, concurrency and memory of a loaded model (issue 13): `model.timeline` on a recording made of real
 * RAVDESS utterances with digital silence between them, the bound on concurrent native predictions (load's
 * `threads`), and RSS over 10,000 predictions in a child process. Trains its own tiny experiment (two variants).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAudio, enhance, fbank, load, type Model, PAPER_FBANK, readRavdess, type TimelineSegment, train, writeWav } from '../ts/index.js';
import { native } from '../ts/native.js';
import { codeOf, repoRoot, sharedPath, tinyExperiment } from './shared.js';

const RATE = 16_000;
const work = mkdtempSync(join(tmpdir(), 'trnet-timeline-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const outDir = join(work, 'exp');
let trnetDir: string;
let baselineDir: string;

// Three utterances of actor 7 (not in the training speakers) with 2 s and 1.5 s of digital silence between them.
const utterances = readRavdess(sharedPath('data/ravdess'))
  .filter((u) => u.speaker === 'Actor_07')
  .slice(0, 3)
  .map((u) => decodeAudio(u.path).samples);
const gaps = [2 * RATE, 1.5 * RATE];
const parts: Float32Array[] = [utterances[0]!, new Float32Array(gaps[0]!), utterances[1]!, new Float32Array(gaps[1]!), utterances[2]!];
const long = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
{
  let at = 0;
  for (const p of parts) {
    long.set(p, at);
    at += p.length;
  }
}
/** Sample ranges of the two silent gaps. */
const silences = [
  [utterances[0]!.length, utterances[0]!.length + gaps[0]!],
  [utterances[0]!.length + gaps[0]! + utterances[1]!.length, utterances[0]!.length + gaps[0]! + utterances[1]!.length + gaps[1]!],
] as const;
const inside = (s: TimelineSegment, [a, b]: readonly [number, number]) => s.start * RATE >= a && s.end * RATE <= b;
const cut = (s: TimelineSegment) => long.slice(Math.round(s.start * RATE), Math.round(s.end * RATE));

describe('timelines of long audio, bounded concurrency, flat memory', () => {
  beforeAll(async () => {
    const config = tinyExperiment(outDir, undefined, {
      noise: { matched: { reader: 'esc50', path: sharedPath('data/esc50'), folds: [4], limit: 40 }, unmatched: null },
      folds: { limit: 1 },
      snrsDb: [10],
      variants: ['baseline-c', 'trnet'],
      training: { epochs: 1, batchSize: 32 },
    });
    const result = await train(config);
    const fold = result.tasks[0]!.fold;
    trnetDir = join(outDir, 'tasks', fold, 'seed-5', 'trnet');
    baselineDir = join(outDir, 'tasks', fold, 'seed-5', 'baseline-c');
  }, 600_000);

  it('marks the silent stretches and classifies the speech, window for window as predict on the cut', async () => {
    const model = await load(baselineDir);
    expect(utterances).toHaveLength(3);
    const segments = await model.timeline({ samples: long, sampleRate: RATE }, { window: 1, hop: 0.5 });
    // Windows every 0.5 s from 0; the last ends at the end of the audio (a shorter tail window when needed).
    for (const [i, s] of segments.entries()) expect(s.start).toBeCloseTo(i * 0.5, 6);
    expect(segments.at(-1)!.end).toBeCloseTo(long.length / RATE, 6);
    for (const s of segments.slice(0, -1)) expect(s.end - s.start).toBeCloseTo(1, 6);
    // Every window wholly inside a gap is silent (digital silence: -Infinity dB) and has no label; there is at
    // least one per gap, and the windows of the utterances' middles are classified.
    for (const gap of silences) {
      const within = segments.filter((s) => inside(s, gap));
      expect(within.length).toBeGreaterThanOrEqual(1);
      for (const s of within) {
        expect(s.silent).toBe(true);
        expect(s.levelDb).toBe(-Infinity);
        expect('label' in s).toBe(false);
      }
    }
    const voiced = segments.filter((s) => !s.silent);
    expect(voiced.length).toBeGreaterThanOrEqual(6);
    for (const s of voiced) {
      expect(Object.keys(s.probabilities)).toEqual(model.classes);
      expect(s.probabilities[s.label]).toBe(Math.max(...Object.values(s.probabilities)));
      expect(s.c).toBeNull();
      expect(s.levelDb).toBeGreaterThan(-60);
    }
    // The same windows cut out and predicted one by one (Baseline-c has no SE front end, so nothing differs).
    const alone = await model.predictBatch(voiced.map((s) => ({ samples: cut(s), sampleRate: RATE })));
    voiced.forEach((s, i) => {
      for (const name of model.classes) expect(Math.abs(s.probabilities[name]! - alone[i]!.probabilities[name]!), `${s.start} ${name}`).toBeLessThan(1e-4);
    });
    model.close();
  }, 120_000);

  it('enhances the whole recording once and classifies each window from its cut of the input and of the SE output', async () => {
    const model = await load(trnetDir);
    const segments = await model.timeline({ samples: long, sampleRate: RATE }, { window: 1, hop: 1 });
    // Touching windows (hop = window); the tail is shorter.
    expect(segments.at(-1)!.end - segments.at(-1)!.start).toBeLessThan(1);
    const voiced = segments.filter((s) => !s.silent);
    expect(voiced.length).toBeGreaterThanOrEqual(3);
    // The reference, step by step: SE of the whole recording, then fbank of each window's cut of the input and of
    // the SE output, through the same checkpoint natively.
    const enhanced = await enhance(long, model.enhancer);
    const reference = native.NativeModel.load(join(trnetDir, 'run', 'best'), { frames: 100, pad: 'zero' });
    const windows = voiced.map((s) => {
      const [a, b] = [Math.round(s.start * RATE), Math.round(s.end * RATE)];
      return { x: fbank(long.slice(a, b), PAPER_FBANK).data, xe: fbank(enhanced.slice(a, b), PAPER_FBANK).data };
    });
    const want = await reference.predict(windows);
    voiced.forEach((s, i) => {
      for (const [k, name] of model.classes.entries()) expect(Math.abs(s.probabilities[name]! - want[i]!.probabilities[k]!)).toBeLessThan(1e-4);
      expect(s.c).not.toBeNull();
      expect(Math.abs(s.c! - want[i]!.c!)).toBeLessThan(1e-4);
    });
    reference.close();
    model.close();
  }, 120_000);

  it('pads a recording shorter than a window as in training, and refuses windows it cannot read', async () => {
    const model = await load(baselineDir);
    // The loudest 0.5 s of an utterance (RAVDESS files begin and end with near-silence).
    const u = utterances[0]!;
    const power = (a: number) => u.subarray(a, a + 8000).reduce((sum, v) => sum + v * v, 0);
    let from = 0;
    for (let a = 0; a + 8000 <= u.length; a += 2000) if (power(a) > power(from)) from = a;
    const clip = u.slice(from, from + 8000);
    const [only, ...more] = await model.timeline({ samples: clip, sampleRate: RATE }, { window: 1 });
    expect(more).toHaveLength(0);
    expect([only!.start, only!.end]).toEqual([0, 0.5]);
    const p = await model.predict({ samples: clip, sampleRate: RATE });
    expect(only!.silent).toBe(false);
    for (const name of model.classes)
      expect(Math.abs((only as { probabilities: Record<string, number> }).probabilities[name]! - p.probabilities[name]!)).toBeLessThan(1e-4);
    // The default window is what the model reads (100 frames: 1.035 s), touching windows.
    const defaults = await model.timeline({ samples: long, sampleRate: RATE });
    expect(defaults[1]!.start).toBeCloseTo(1.035, 6);
    const input = { samples: long, sampleRate: RATE };
    for (const bad of [
      { window: 0 },
      { window: -1 },
      { window: 0.01 },
      { hop: 0 },
      { window: 1, hop: 2 },
      { window: Number.NaN },
      { silenceDb: -3 },
      { step: 1 },
    ])
      expect(await codeOf(model.timeline(input, bad as never)), JSON.stringify(bad)).toBe('TRNET_INVALID_ARGUMENT');
    // Longer than the 1.035 s the model's 100 frames read: the native check names the limit.
    const err = await model.timeline(input, { window: 2 }).catch((e: Error & { code?: string }) => e);
    expect((err as { code?: string }).code).toBe('TRNET_INVALID_ARGUMENT');
    expect((err as Error).message).toContain('16560 samples');
    model.close();
    expect(await codeOf(model.timeline(input))).toBe('TRNET_MODEL_CLOSED');
  }, 120_000);

  it('trnet predict --timeline prints a row per window, or JSON lines, and refuses a bad window as a usage error', async () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'bin/trnet.mjs'), ...args], { encoding: 'utf8', timeout: 120_000 });
    const file = join(work, 'long.wav');
    writeWav(file, long);
    const model = await load(baselineDir);
    const want = await model.timeline(file, { window: 1, hop: 0.5 });
    model.close();
    const j = cli('predict', baselineDir, file, '--timeline', '--window', '1', '--hop', '0.5', '--json');
    expect(j.status, j.stderr).toBe(0);
    const lines = j.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as TimelineSegment & { file: string; levelDb: number | null });
    expect(lines).toHaveLength(want.length);
    lines.forEach((l, i) => {
      const w = want[i]!;
      expect([l.file, l.start, l.end, l.silent]).toEqual([file, w.start, w.end, w.silent]);
      // JSON has no -Infinity: digital silence's level is null.
      expect(l.levelDb).toBe(Number.isFinite(w.levelDb) ? w.levelDb : null);
      if (!l.silent && !w.silent) expect(l.probabilities).toEqual(w.probabilities);
    });
    const t = cli('predict', baselineDir, file, '--timeline', '--window', '1');
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^file\s+start\s+end\s+label\s+angry\s+happy\s+neutral\s+sad\s+c$/m);
    const rows = t.stdout.trim().split('\n').slice(1);
    // Touching 1-s windows; a tail shorter than one fbank frame (400 samples) gives none.
    expect(rows.length).toBe(Math.floor(long.length / RATE) + (long.length % RATE >= 400 ? 1 : 0));
    expect(rows.filter((r) => r.includes('(silent)')).length).toBeGreaterThanOrEqual(2);
    for (const bad of [
      ['--window', '0'],
      ['--window', 'two'],
      ['--window', '1', '--hop', '2'],
    ]) {
      const u = cli('predict', baselineDir, file, '--timeline', ...bad);
      expect(u.status, bad.join(' ')).toBe(2);
      expect(u.stderr).toMatch(/--(window|hop)/);
    }
    expect(cli('predict', baselineDir, file, '--window', '1').status).toBe(2);
  }, 120_000);

  it('runs at most `threads` predictions natively at once without blocking the event loop', async () => {
    const files = readRavdess(sharedPath('data/ravdess'))
      .filter((u) => u.speaker === 'Actor_08')
      .slice(0, 5)
      .map((u) => u.path);
    for (const threads of [1, 3]) {
      const model: Model = await load(trnetDir, { threads });
      let inFlight = 0;
      let ticksWhileBusy = 0;
      const timer = setInterval(() => {
        if (inFlight > 0) ticksWhileBusy++;
      }, 2);
      const one = async (i: number) => {
        inFlight++;
        try {
          return i % 10 === 9 ? (await model.timeline(files[i % 5]!, { window: 1 }))[0]! : await model.predict(files[i % 5]!);
        } finally {
          inFlight--;
        }
      };
      const all = await Promise.all(Array.from({ length: 50 }, (_, i) => one(i)));
      clearInterval(timer);
      expect(all).toHaveLength(50);
      for (let i = 5; i < 50; i++) if (i % 10 !== 9 && (i - 5) % 10 !== 9) expect(all[i]).toEqual(all[i - 5]);
      // The event loop ran while predictions were pending.
      expect(ticksWhileBusy).toBeGreaterThan(0);
      // The native side counts its prediction jobs of this model: never more than the bound at once, none left.
      expect(model.jobs.limit).toBe(threads);
      expect(model.jobs.peak).toBeGreaterThanOrEqual(1);
      expect(model.jobs.peak).toBeLessThanOrEqual(threads);
      expect(model.jobs.active).toBe(0);
      model.close();
    }
    expect(await codeOf(load(trnetDir, { threads: 0 }))).toBe('TRNET_INVALID_ARGUMENT');
    expect(await codeOf(load(trnetDir, { intraOpThreads: 0 }))).toBe('TRNET_INVALID_ARGUMENT');
    // One libtorch thread per forward pass: the same numbers (up to float summation order).
    const many = await load(trnetDir);
    const want = await many.predict(files[0]!);
    many.close();
    const single = await load(trnetDir, { intraOpThreads: 1 });
    const got = await single.predict(files[0]!);
    single.close();
    expect(got.label).toBe(want.label);
    for (const name of single.classes) expect(Math.abs(got.probabilities[name]! - want.probabilities[name]!)).toBeLessThan(1e-5);
  }, 300_000);

  it('keeps memory flat over 10,000 predictions: no RSS trend, and growth after a warm-up under 64 MiB', () => {
    // A child process, so the measurement sees only this model's work; it imports the built package (dist/).
    // RSS after a warm-up of 8,000 predictions, then after each of 10 blocks of 1,000 (1-s clips, 16 at a time).
    // The warm-up is long because RSS climbs for the first ~8,000 predictions before it levels off (glibc's arenas,
    // one per job thread, and V8's heap reaching their working size; measured with trnet's malloc settings and with
    // glibc's defaults alike: +45–80 MiB, then < 1 MiB per 1,000 up to 26,000). Single readings jump by a few MiB,
    // so the test bounds the trend (the least-squares slope over the blocks: a leak of 4 KB per prediction would be
    // 4 MiB per block; one 1-s clip's fbank is 32 KB) and the largest reading.
    const script = join(work, 'memory.mjs');
    writeFileSync(
      script,
      `import { load, decodeAudio, readRavdess } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'dist/index.js')).href)};
const [dir, ravdess] = process.argv.slice(2);
const clip = decodeAudio(readRavdess(ravdess).find((u) => u.speaker === 'Actor_09').path).samples.slice(8000, 24000);
const model = await load(dir, { threads: 4, intraOpThreads: 1 });
const input = { samples: clip, sampleRate: 16000 };
const run = async (n) => { for (let i = 0; i < n; i += 16) await Promise.all(Array.from({ length: 16 }, () => model.predict(input))); };
const rss = () => { globalThis.gc(); globalThis.gc(); return process.memoryUsage().rss; };
const t0 = Date.now();
await run(8000);
const warm = rss();
const blocks = [];
for (let k = 0; k < 10; k++) { await run(1000); blocks.push(rss()); }
process.stdout.write(JSON.stringify({ warm, blocks, jobs: model.jobs, ms: Date.now() - t0 }));
model.close();`,
    );
    const child = spawnSync(process.execPath, ['--expose-gc', script, trnetDir, sharedPath('data/ravdess')], { encoding: 'utf8', timeout: 280_000 });
    expect(child.status, child.stderr).toBe(0);
    const m = JSON.parse(child.stdout) as { warm: number; blocks: number[]; jobs: { peak: number }; ms: number };
    const MiB = 2 ** 20;
    const n = m.blocks.length;
    const mean = m.blocks.reduce((a, b) => a + b, 0) / n;
    const slope = m.blocks.reduce((a, y, k) => a + (k - (n - 1) / 2) * (y - mean), 0) / m.blocks.reduce((a, _, k) => a + (k - (n - 1) / 2) ** 2, 0);
    const growth = Math.max(...m.blocks) - m.warm;
    console.log(
      `memory: RSS ${(m.warm / MiB).toFixed(1)} MiB after 8,000 predictions; after each further 1,000: ${m.blocks.map((b) => (b / MiB).toFixed(1)).join(' ')}; slope ${(slope / MiB).toFixed(2)} MiB per 1,000 (${m.ms} ms)`,
    );
    expect(m.blocks).toHaveLength(10);
    expect(m.jobs.peak).toBeLessThanOrEqual(4);
    expect(slope).toBeLessThan(4 * MiB);
    expect(growth).toBeLessThan(64 * MiB);
  }, 300_000);
});
