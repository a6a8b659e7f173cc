import { describe, expect, it } from 'vitest';
import { CMGAN_STFT, fixLength, GTCRN_STFT, isTrnetError, istft, mixAtSnr, stft } from '../ts/index.js';

function seededNoise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return new Float32Array(n).map(() => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

describe('stft / istft', () => {
  it('reconstruct a signal through JS with the SE front ends’ settings', () => {
    const x = seededNoise(16_000 + 77, 3);
    for (const options of [GTCRN_STFT, CMGAN_STFT]) {
      const spec = stft(x, options);
      expect(spec.frames).toBe(1 + Math.floor(x.length / options.hopLength));
      expect(spec.bins).toBe(options.nFft / 2 + 1);
      expect(spec.data.length).toBe(spec.frames * spec.bins * 2);
      const y = istft(spec, options, x.length);
      let err = 0;
      for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(x[i]! - y[i]!));
      expect(err).toBeLessThan(1e-5);
    }
  });

  it('rejects an unknown window by name', () => {
    expect(() => stft(new Float32Array(1000), { nFft: 64, hopLength: 16, window: 'kaiser' })).toThrow(/"hann", "sqrt-hann"/);
  });
});

describe('mixAtSnr', () => {
  it('hits the target SNR within 0.01 dB, measured from the output', () => {
    const speech = new Float32Array(32_000).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / 16_000));
    const noise = seededNoise(20_000, 9);
    for (const snr of [0, 5, 10, 15, 20]) {
      const m = mixAtSnr(speech, noise, snr, 1234);
      let ps = 0;
      let pn = 0;
      for (let i = 0; i < speech.length; i++) {
        ps += speech[i]! ** 2;
        pn += (m.noisy[i]! - speech[i]!) ** 2;
      }
      expect(Math.abs(10 * Math.log10(ps / pn) - snr)).toBeLessThan(0.01);
      expect(Math.abs(m.realisedSnrDb - snr)).toBeLessThan(0.01);
    }
    expect(mixAtSnr(speech, noise, 5, 7)).toEqual(mixAtSnr(speech, noise, 5, 7));
  });

  it('refuses silent speech with a coded error instead of NaN', () => {
    let caught: unknown;
    try {
      mixAtSnr(new Float32Array(1000), seededNoise(1000, 1), 5, 0);
    } catch (err) {
      caught = err;
    }
    expect(isTrnetError(caught, 'TRNET_INVALID_ARGUMENT')).toBe(true);
    expect(String(caught)).toMatch(/speech power/);
  });
});

describe('fixLength', () => {
  it('repeat-pads and truncates to the target frame count', () => {
    const f = new Float32Array([1, 2, 3, 4, 5, 6]); // 3 frames × 2 bins
    const padded = fixLength(f, 2, 5, 'repeat');
    expect(Array.from(padded.data)).toEqual([1, 2, 3, 4, 5, 6, 1, 2, 3, 4]);
    expect(padded.validFrames).toBe(3);
    expect(Array.from(fixLength(f, 2, 2, 'zero').data)).toEqual([1, 2, 3, 4]);
  });
});
