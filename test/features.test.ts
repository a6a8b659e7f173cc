import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PlainFbank } from '../bench/lib/plain-fbank.js';
import { decodeAudio, fbank, fbankBatch, isTrnetError, PAPER_FBANK } from '../ts/index.js';
import { sharedPath } from './shared.js';

const actor = sharedPath('data/ravdess/Actor_02');
const files = readdirSync(actor)
  .filter((f) => f.endsWith('.flac'))
  .sort()
  .slice(0, 4)
  .map((f) => join(actor, f));
const waves = files.map((f) => decodeAudio(f).samples);

describe('fbank', () => {
  it('gives the paper’s 80-bin features on real speech with Kaldi’s frame count', () => {
    const wave = waves[0]!;
    const f = fbank(wave, PAPER_FBANK);
    expect(f.bins).toBe(80);
    expect(f.frames).toBe(1 + Math.floor((wave.length - 400) / 160));
    expect(f.data.length).toBe(f.frames * f.bins);
    expect(f.data.every(Number.isFinite)).toBe(true);
  });

  it('defaults to torchaudio’s 23 bins', () => {
    expect(fbank(waves[0]!).bins).toBe(23);
  });

  it('agrees with an independent plain-TypeScript Kaldi fbank (the benchmark baseline) on real speech', () => {
    const plain = new PlainFbank(80);
    for (const wave of waves) {
      const a = fbank(wave, PAPER_FBANK).data;
      const b = plain.compute(wave);
      expect(b.length).toBe(a.length);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      // Log domain, the parity bound (about 2e-4 is typical here).
      expect(worst).toBeLessThan(1e-3);
    }
  });

  it('makes dither reproducible with a seed', () => {
    const opts = { ...PAPER_FBANK, dither: 1.0, ditherSeed: 7 };
    const a = fbank(waves[0]!, opts).data;
    expect(fbank(waves[0]!, opts).data).toEqual(a);
    expect(fbank(waves[0]!, { ...opts, ditherSeed: 8 }).data).not.toEqual(a);
  });

  it('floors digital silence at logFloor (default Kaldi’s float32 epsilon) and leaves speech bins alone', () => {
    // Real speech with its first 0.3 s set to digital silence.
    const wave = waves[0]!.slice();
    wave.fill(0, 0, 4800);
    const kaldi = fbank(wave, PAPER_FBANK).data;
    const low = fbank(wave, { ...PAPER_FBANK, logFloor: 1e-10 }).data;
    expect(kaldi[0]).toBeCloseTo(Math.log(2 ** -23), 4);
    expect(low[0]).toBeCloseTo(Math.log(1e-10), 3);
    let unchanged = 0;
    for (let i = 0; i < kaldi.length; i++) if (kaldi[i]! > Math.log(2 ** -23) + 1e-3 && kaldi[i] === low[i]) unchanged++;
    expect(unchanged).toBeGreaterThan(kaldi.length / 2);
    expect(() => fbank(wave, { ...PAPER_FBANK, logFloor: 0 })).toThrow(/log_floor/);
  });

  it('names the supported windows when given an unknown one', () => {
    let caught: unknown;
    try {
      fbank(waves[0]!, { windowType: 'kaiser' });
    } catch (err) {
      caught = err;
    }
    expect(isTrnetError(caught, 'TRNET_INVALID_ARGUMENT')).toBe(true);
    expect(String(caught)).toMatch(/povey/);
  });
});

describe('fbankBatch', () => {
  it('computes every waveform on all cores, equal to one-at-a-time, with per-item errors', async () => {
    const bad = waves[1]!.slice();
    bad[100] = Number.NaN;
    const batch = [waves[0]!, bad, new Float32Array(10), waves[2]!];
    const progress: number[] = [];
    const items = await fbankBatch(batch, PAPER_FBANK, { onProgress: (p) => progress.push(p.done) });
    expect(items[0]!.features!.data).toEqual(fbank(waves[0]!, PAPER_FBANK).data);
    expect(items[3]!.features!.data).toEqual(fbank(waves[2]!, PAPER_FBANK).data);
    expect(items[1]!.error?.code).toBe('TRNET_INVALID_ARGUMENT');
    expect(items[1]!.error?.message).toMatch(/100/);
    expect(items[2]!.error?.code).toBe('TRNET_INVALID_ARGUMENT');
    expect(progress).toEqual([1, 2, 3, 4]);
  });

  it('fails the whole call for invalid options', async () => {
    await expect(fbankBatch(waves, { numMelBins: 1 })).rejects.toMatchObject({ code: 'TRNET_INVALID_ARGUMENT' });
  });
});
