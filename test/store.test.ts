import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildFeatureSet,
  decodeAudio,
  type FeaturesProgress,
  isAbortError,
  openFeatureSet,
  readEsc50,
  readRavdess,
  train,
  type UtteranceSpec,
} from '../ts/index.js';
import { repoRoot, sharedPath } from './shared.js';

// Feature stores on real audio: RAVDESS actors 1–2, four emotions, ESC-50 noise, the classical enhancer.
const EMOTIONS = ['neutral', 'happy', 'sad', 'angry'];
const utterances: UtteranceSpec[] = readRavdess(sharedPath('data/ravdess'), { emotions: EMOTIONS })
  .filter((u) => Number(u.speaker.slice(6)) <= 2)
  .map((u) => ({ path: u.path, label: EMOTIONS.indexOf(u.emotion), speaker: u.speaker, id: u.id }));
const noises = readEsc50(sharedPath('data/esc50'), { folds: [4] })
  .slice(0, 4)
  .map((n) => n.path);
const work = mkdtempSync(join(tmpdir(), 'trnet-store-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const options = (dir: string, seed = 1) => ({ frames: 200, enhancer: { kind: 'classical' }, noises, seed, store: { dir } });
const stores = (dir: string) => readdirSync(dir).sort();

describe('feature stores', () => {
  it('build once, reopen without computing, train bit for bit like in memory, and select folds without copying', async () => {
    const root = join(work, 'hit');
    const events: FeaturesProgress[] = [];
    let t = performance.now();
    const built = await buildFeatureSet(utterances, options(root), { onProgress: (p) => events.push(p) });
    const buildMs = performance.now() - t;
    expect(built.cached).toBe(false);
    expect(built.storePath).toMatch(/[0-9a-f]{64}$/);
    expect(built.length).toBe(2 * 56);
    expect(events.map((e) => e.done)).toEqual(Array.from({ length: 56 }, (_, i) => i + 1));

    const again: FeaturesProgress[] = [];
    t = performance.now();
    const hit = await buildFeatureSet(utterances, options(root), { onProgress: (p) => again.push(p) });
    const hitMs = performance.now() - t;
    expect(hit.cached).toBe(true);
    expect(hit.storePath).toBe(built.storePath);
    expect(again).toEqual([{ stage: 'features', done: 56, total: 56, cached: true }]);
    expect(hitMs * 5).toBeLessThan(buildMs);

    const memory = await buildFeatureSet(utterances, { ...options(root), store: undefined });
    expect(memory.storePath).toBeNull();
    const reopened = await openFeatureSet(built.storePath!);
    expect([reopened.length, reopened.frames, reopened.bins]).toEqual([112, 200, 80]);
    expect(reopened.classCounts(4)).toEqual(memory.classCounts(4));

    // Folds by speaker from one store: actor 1 trains, actor 2 validates.
    const speakers = reopened.speakers();
    const fold = (s: string) => reopened.subset(speakers.flatMap((x, i) => (x === s ? [i] : [])));
    const [trainDisk, valDisk] = [fold('Actor_01'), fold('Actor_02')];
    expect(trainDisk.storePath).toBe(built.storePath);
    const memSpeakers = memory.speakers();
    const memFold = (s: string) => memory.subset(memSpeakers.flatMap((x, i) => (x === s ? [i] : [])));
    const run = (trainSet: typeof memory, valSet: typeof memory, name: string) =>
      train({
        modelConfig: { variant: 'baseline-n', channels: [4, 8], numClasses: 4 },
        trainConfig: { epochs: 2, batchSize: 16, seed: 5 },
        trainSet,
        valSet,
        outDir: join(work, name),
      });
    const [onDisk, inMemory] = [await run(trainDisk, valDisk, 'disk'), await run(memFold('Actor_01'), memFold('Actor_02'), 'mem')];
    expect(onDisk.history.map((h) => [h.train, h.val])).toEqual(inMemory.history.map((h) => [h.train, h.val]));
    expect(onDisk.best).toEqual(inMemory.best);
  });

  it('misses on a changed input, and two builders of one store at once share it', async () => {
    const root = join(work, 'miss');
    const [a, b] = await Promise.all([buildFeatureSet(utterances, options(root, 3)), buildFeatureSet(utterances, options(root, 3))]);
    expect(a.storePath).toBe(b.storePath);
    expect(stores(root)).toHaveLength(1);
    const other = await buildFeatureSet(utterances, options(root, 4));
    expect(other.cached).toBe(false);
    expect(other.storePath).not.toBe(a.storePath);
    expect(stores(root)).toHaveLength(2);
  });

  it('two processes building one store at once both get it whole', async () => {
    const root = join(work, 'processes');
    // Each child builds through the compiled package (dist/, as the CLI runs it) and prints where its set lives.
    const script = `const { buildFeatureSet } = await import(${JSON.stringify(join(repoRoot, 'dist/index.js'))});
      const set = await buildFeatureSet(${JSON.stringify(utterances.slice(0, 12))}, ${JSON.stringify(options(root, 21))});
      console.log(JSON.stringify({ path: set.storePath, length: set.length }));`;
    const child = () =>
      new Promise<{ path: string; length: number }>((done, fail) =>
        execFile(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
          err ? fail(new Error(stderr || String(err))) : done(JSON.parse(stdout)),
        ),
      );
    const [a, b] = await Promise.all([child(), child()]);
    expect(a).toEqual(b);
    expect(a.length).toBe(24);
    expect(stores(root)).toHaveLength(1);
    expect((await openFeatureSet(a.path)).length).toBe(24);
  });

  it('refuses a missing or damaged store with coded errors, and a build replaces a damaged one', async () => {
    const root = join(work, 'damaged');
    await expect(openFeatureSet(join(root, 'nope'))).rejects.toMatchObject({ code: 'TRNET_STORE_NOT_FOUND' });
    const set = await buildFeatureSet(utterances.slice(0, 8), options(root));
    const data = join(set.storePath!, 'features.f32');
    truncateSync(data, statSync(data).size - 4096);
    await expect(openFeatureSet(set.storePath!)).rejects.toMatchObject({ code: 'TRNET_STORE_CORRUPT', message: expect.stringContaining('truncated') });
    const rebuilt = await buildFeatureSet(utterances.slice(0, 8), options(root));
    expect(rebuilt.cached).toBe(false);
    expect((await openFeatureSet(rebuilt.storePath!)).length).toBe(16);
  });

  it('an aborted build leaves no store and no temporary folder behind', async () => {
    const root = join(work, 'aborted');
    const controller = new AbortController();
    const err = await buildFeatureSet(utterances, options(root, 9), { signal: controller.signal, onProgress: (p) => p.done === 5 && controller.abort() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAbortError(err)).toBe(true);
    expect(stores(root)).toEqual([]);
    expect((await buildFeatureSet(utterances, options(root, 9))).cached).toBe(false);
  });

  it('an enhancer that fails on one utterance fails the build with a coded report, publishes no store, and fails again next time', async () => {
    // waveform_even's model reshapes audio into pairs of samples, so ONNX Runtime rejects odd lengths while running.
    const card = join(repoRoot, 'crates/trnet-enhance/tests/fixtures/waveform_even.card.json');
    const odd = (u: UtteranceSpec) => decodeAudio(u.path).samples.length % 2 === 1;
    const bad = utterances.find(odd)!;
    const good = utterances.filter((u) => !odd(u)).slice(0, 5);
    expect(bad).toBeDefined();
    expect(good).toHaveLength(5);
    const set = [...good.slice(0, 2), bad, ...good.slice(2)];
    const root = join(work, 'enhance-fails');
    const cacheDir = join(work, 'enhance-fails-cache');
    // 1000 frames (10 s) keep these utterances whole (builds cut audio to the samples the frames use), so the
    // enhancer sees each at its own, odd or even, length.
    const opts = { ...options(root, 11), frames: 1000, enhancer: { kind: 'card', card, cacheDir } };
    for (const attempt of [1, 2]) {
      const err = (await buildFeatureSet(set, opts).then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; message?: string } | undefined;
      expect(err?.code, `attempt ${attempt}`).toBe('TRNET_ENHANCE_FAILED');
      expect(err?.message).toContain(bad.path);
      expect(err?.message).toContain('2 item(s) of 1 of 6 utterance(s)');
      expect(err?.message).toContain('[TRNET_ORT]');
      for (const u of good) expect(err?.message).not.toContain(u.path);
      // No store folder, no temporary folder.
      expect(stores(root), `attempt ${attempt}`).toEqual([]);
    }
    // In memory the same.
    await expect(buildFeatureSet(set, { ...opts, store: undefined })).rejects.toMatchObject({ code: 'TRNET_ENHANCE_FAILED' });
    // The good utterances alone build a store with this enhancer.
    const built = await buildFeatureSet(good, opts);
    expect([built.cached, built.length]).toEqual([false, 10]);
    expect(stores(root)).toHaveLength(1);
  });
});
