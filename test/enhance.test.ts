import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeAudio, enhance, enhanceBatch, enhancerInfo, mixAtSnr, siSdrDb, snrDb, writeWav } from '../ts/index.js';
import { gtcrnOfflinePath, repoRoot, sharedPath } from './shared.js';

const gtcrn = sharedPath('models/gtcrn/gtcrn_simple.onnx');
const speechDir = sharedPath('data/ravdess/Actor_03');
const speech = readdirSync(speechDir)
  .filter((f) => f.endsWith('.flac'))
  .sort()
  .slice(0, 3)
  .map((f) => decodeAudio(join(speechDir, f)).samples);
const noise = decodeAudio(sharedPath('data/esc50/audio/4-102844-A-49.flac')).samples;
const noisy = speech.map((s, i) => mixAtSnr(s, noise, 5, i).noisy);
const work = mkdtempSync(join(tmpdir(), 'trnet-enhance-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('enhancers on real speech mixed with ESC-50 noise at 5 dB', () => {
  for (const options of [{ kind: 'classical' }, { kind: 'gtcrn', model: gtcrn }]) {
    it(`${options.kind} keeps the length and raises SI-SDR`, async () => {
      const items = await enhanceBatch(noisy, options);
      let gain = 0;
      for (const [i, item] of items.entries()) {
        expect(item.error).toBeUndefined();
        expect(item.samples!.length).toBe(noisy[i]!.length);
        gain += siSdrDb(speech[i]!, item.samples!) - siSdrDb(speech[i]!, noisy[i]!);
      }
      // Measured here: classical ≈ +1 dB, GTCRN ≈ +8–9 dB on this noise (4-102844-A-49); the bounds are conservative.
      expect(gain / items.length).toBeGreaterThan(options.kind === 'gtcrn' ? 3 : 0.5);
    });
  }
});

const offline = gtcrnOfflinePath();
if (!offline.path) console.warn(`SKIPPED whole-utterance GTCRN tests: ${offline.why}`);

describe.skipIf(!offline.path)('GTCRN whole-utterance export (scripts/export-gtcrn-offline.sh) against the streaming export', () => {
  it('gives the streaming output on real speech, through the same enhancer kind', async () => {
    const [whole, stream] = await Promise.all([
      enhanceBatch(noisy, { kind: 'gtcrn', model: offline.path! }),
      enhanceBatch(noisy, { kind: 'gtcrn', model: gtcrn }),
    ]);
    for (const [i, item] of whole.entries()) {
      const a = item.samples!;
      const b = stream[i]!.samples!;
      expect(a.length).toBe(noisy[i]!.length);
      let diff = 0;
      for (let k = 0; k < a.length; k++) diff = Math.max(diff, Math.abs(a[k]! - b[k]!));
      // Measured here: max |diff| below 1e-6, SI-SDR between the two above 120 dB (float rounding only).
      expect(diff).toBeLessThan(1e-4);
      expect(siSdrDb(b, a)).toBeGreaterThan(60);
    }
  });

  it("runs its GRUs on trnet's FastGRU unless TRNET_FAST_GRU=0, with the same output and fingerprint", async () => {
    const options = { kind: 'gtcrn', model: offline.path! };
    const fast = await enhanceBatch(noisy, options);
    const fastInfo = enhancerInfo(options);
    process.env.TRNET_FAST_GRU = '0';
    let standard: Awaited<ReturnType<typeof enhanceBatch>>;
    let standardInfo: ReturnType<typeof enhancerInfo>;
    try {
      standard = await enhanceBatch(noisy, options);
      standardInfo = enhancerInfo(options);
    } finally {
      delete process.env.TRNET_FAST_GRU;
    }
    let worst = 0;
    for (const [i, item] of fast.entries()) {
      const a = item.samples!;
      const b = standard[i]!.samples!;
      expect(a.length).toBe(b.length);
      for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k]! - b[k]!));
    }
    // Measured: max |diff| 1e-8–6e-7 (float rounding: other summation order, another exp). Not zero, which
    // shows the variable did switch kernels.
    expect(worst).toBeLessThan(1e-5);
    expect(worst).toBeGreaterThan(0);
    expect(fastInfo.fingerprint).toBe(standardInfo.fingerprint);
  });

  it('has its own fingerprint (its file hash, and "utterance" instead of "stream")', () => {
    const info = enhancerInfo({ kind: 'gtcrn', model: offline.path! });
    expect(info.fingerprint).toMatch(/^gtcrn;utterance-v1;sha256=[0-9a-f]{64};/);
    expect(info.fingerprint).not.toBe(enhancerInfo({ kind: 'gtcrn', model: gtcrn }).fingerprint);
  });
});

describe('enhancement cache', () => {
  it('serves a second run from disk, bit-identical, and misses for another enhancer', async () => {
    const cacheDir = join(work, 'cache-a');
    const first = await enhanceBatch(noisy, { kind: 'gtcrn', model: gtcrn, cacheDir });
    const second = await enhanceBatch(noisy, { kind: 'gtcrn', model: gtcrn, cacheDir });
    expect(first.map((i) => i.cached)).toEqual([false, false, false]);
    expect(second.map((i) => i.cached)).toEqual([true, true, true]);
    for (const [i, item] of second.entries()) expect(item.samples).toEqual(first[i]!.samples);
    const other = await enhanceBatch(noisy, { kind: 'classical', cacheDir });
    expect(other.map((i) => i.cached)).toEqual([false, false, false]);
  });

  it('is filled safely by two processes at once', async () => {
    const cacheDir = join(work, 'cache-race');
    const script = `
      import { decodeAudio, enhanceBatch, mixAtSnr } from './ts/index.ts';
      const s = decodeAudio(${JSON.stringify(
        join(
          speechDir,
          readdirSync(speechDir)
            .filter((f) => f.endsWith('.flac'))
            .sort()[0]!,
        ),
      )}).samples;
      const n = decodeAudio(${JSON.stringify(sharedPath('data/esc50/audio/4-102844-A-49.flac'))}).samples;
      const waves = [0, 1, 2, 3, 4, 5].map((seed) => mixAtSnr(s, n, 5, seed).noisy);
      const items = await enhanceBatch(waves, { kind: 'classical', cacheDir: ${JSON.stringify(cacheDir)} });
      if (items.some((i) => i.error)) { console.error(JSON.stringify(items.map((i) => i.error))); process.exit(1); }
    `;
    const run = () =>
      new Promise<number>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: 'inherit' });
        p.on('exit', (code) => resolve(code ?? -1));
      });
    expect(await Promise.all([run(), run()])).toEqual([0, 0]);
    const waves = [0, 1, 2, 3, 4, 5].map((seed) => mixAtSnr(speech[0]!, noise, 5, seed).noisy);
    const after = await enhanceBatch(waves, { kind: 'classical', cacheDir });
    expect(after.every((i) => i.cached)).toBe(true);
  });
});

describe('enhancer setup errors', () => {
  it('reject a missing model file and an unknown kind with coded errors', async () => {
    await expect(enhanceBatch(noisy, { kind: 'gtcrn', model: '/no/model.onnx' })).rejects.toMatchObject({ code: 'TRNET_MODEL_LOAD' });
    await expect(enhanceBatch(noisy, { kind: 'wiener' })).rejects.toMatchObject({ code: 'TRNET_INVALID_ARGUMENT' });
    await expect(enhanceBatch(noisy, { kind: 'gtcrn' })).rejects.toThrow(/a `model` path/);
  });

  it('fingerprints a model by its content', () => {
    const info = enhancerInfo({ kind: 'gtcrn', model: gtcrn });
    expect(info.fingerprint).toContain('b4718df6228e7bdf1a8a435cf98f838636eb2fd331acabf86ba87c5192ebcb87');
  });
});

describe('enhance + writeWav', () => {
  it('writes the enhanced audio as a WAV that decodes back exactly', async () => {
    const out = await enhance(noisy[0]!, { kind: 'classical' });
    const path = join(work, 'enhanced.wav');
    writeWav(path, out);
    expect(decodeAudio(path).samples).toEqual(out);
    expect(snrDb(out, out)).toBe(Infinity);
  });
});

describe('CMGAN-format models and model cards through the addon', () => {
  const fixtures = join(repoRoot, 'crates/trnet-enhance/tests/fixtures');
  const wave = noisy[0]!;

  it('runs a CMGAN-format export whose generator passes its input through: the chain gives the input back', async () => {
    const out = await enhance(wave, { kind: 'cmgan', model: join(fixtures, 'cmgan_identity.onnx') });
    expect(out.length).toBe(wave.length);
    expect(siSdrDb(wave, out)).toBeGreaterThan(60);
  });

  it('applies CMGAN’s compression: a 0.5 gain on |X|^0.3 is 0.5^(1/0.3) ≈ 0.099 on the waveform', async () => {
    const out = await enhance(wave, { kind: 'cmgan', model: join(fixtures, 'cmgan_gain.onnx') });
    let num = 0;
    let den = 0;
    for (let i = 0; i < wave.length; i++) {
      num += out[i]! * wave[i]!;
      den += wave[i]! * wave[i]!;
    }
    expect(num / den).toBeCloseTo(0.5 ** (1 / 0.3), 3);
  });

  it('runs waveform and spectrum model cards, and the CMGAN contract written as a card matches the built-in path', async () => {
    const viaCard = await enhance(wave, { kind: 'card', card: join(fixtures, 'cmgan_gain.card.json') });
    const builtIn = await enhance(wave, { kind: 'cmgan', model: join(fixtures, 'cmgan_gain.onnx') });
    expect(siSdrDb(builtIn, viaCard)).toBeGreaterThan(80);
    const wf = await enhance(wave, { kind: 'card', card: join(fixtures, 'waveform_gain.card.json') });
    expect(wf.length).toBe(wave.length);
    await expect(enhance(wave, { kind: 'card', card: join(fixtures, 'no-such.card.json') })).rejects.toMatchObject({ code: 'TRNET_CARD_INVALID' });
  });

  it('a model that rejects one input fails that item only, with its code, and caches nothing for it', async () => {
    // waveform_even reshapes audio into pairs of samples: ONNX Runtime rejects an odd length while running.
    const options = { kind: 'card', card: join(fixtures, 'waveform_even.card.json'), cacheDir: join(work, 'even-cache') };
    const waves = [wave.subarray(0, 8000), wave.subarray(0, 8001), wave.subarray(0, 12000)];
    for (const round of [0, 1]) {
      const items = await enhanceBatch(waves, options);
      expect(items[1]!.samples ?? null).toBeNull();
      expect(items[1]!.error?.code).toBe('TRNET_ORT');
      for (const i of [0, 2]) {
        expect(items[i]!.error ?? null).toBeNull();
        expect(items[i]!.samples).toEqual(waves[i]);
        expect(items[i]!.cached).toBe(round === 1);
      }
    }
  });
});
