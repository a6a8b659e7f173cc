import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeAudio, decodeAudioBytes, isAbortError, isTrnetError, loadAudioBatch } from '../ts/index.js';
import { sharedPath } from './shared.js';

const actor = sharedPath('data/ravdess/Actor_01');
const ravdess = readdirSync(actor)
  .filter((f) => f.endsWith('.flac'))
  .sort()
  .map((f) => join(actor, f));

/** Bit-identical sample arrays (vitest's deep equality is slow on long typed arrays). */
function sameSamples(a: Float32Array | undefined, b: Float32Array): boolean {
  return a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isTrnetError(err) ? err.code : `not a trnet error: ${String(err)}`;
  }
  return undefined;
}

describe('decodeAudio', () => {
  it('decodes a real RAVDESS FLAC to 16 kHz mono, identically from a path and from bytes', () => {
    const clip = decodeAudio(ravdess[0]!);
    expect(clip.sampleRate).toBe(16_000);
    expect(clip.sourceSampleRate).toBe(16_000);
    expect(clip.sourceChannels).toBe(1);
    expect(clip.durationSeconds).toBeGreaterThan(2.5);
    expect(clip.durationSeconds).toBeLessThan(6);
    expect(clip.samples.every(Number.isFinite)).toBe(true);
    const fromBytes = decodeAudioBytes(readFileSync(ravdess[0]!), 'clip.flac');
    expect(sameSamples(fromBytes.samples, clip.samples)).toBe(true);
  });

  it('resamples to another rate with the length rule round(n · to / from)', () => {
    const clip = decodeAudio(ravdess[0]!);
    const at8k = decodeAudio(ravdess[0]!, { targetRate: 8000 });
    expect(at8k.sampleRate).toBe(8000);
    expect(at8k.samples.length).toBe(Math.round(clip.samples.length / 2));
  });

  it('gives each kind of bad input its own code, naming the file', () => {
    expect(codeOf(() => decodeAudio('/no/such/file.wav'))).toBe('TRNET_AUDIO_MISSING');
    expect(codeOf(() => decodeAudioBytes(new Uint8Array(0), 'empty.wav'))).toBe('TRNET_AUDIO_EMPTY');
    const half = readFileSync(ravdess[0]!).subarray(0, 20_000);
    expect(codeOf(() => decodeAudioBytes(half, 'half.flac'))).toBe('TRNET_AUDIO_TRUNCATED');
    expect(codeOf(() => decodeAudioBytes(Buffer.from('definitely not audio, just text'.repeat(10)), 'notes.txt'))).toBe('TRNET_AUDIO_CORRUPT');
    try {
      decodeAudio('/no/such/file.wav');
    } catch (err) {
      expect((err as Error).message).toContain('/no/such/file.wav');
    }
  });
});

describe('loadAudioBatch', () => {
  it('loads files on all cores in order, reporting a bad file without losing the others', async () => {
    const paths = [...ravdess.slice(0, 6), '/missing/one.flac', ...ravdess.slice(6, 12)];
    const progress: number[] = [];
    const items = await loadAudioBatch(paths, {}, { onProgress: (p) => progress.push(p.done) });
    expect(items.map((i) => i.path)).toEqual(paths);
    expect(items[6]!.error?.code).toBe('TRNET_AUDIO_MISSING');
    expect(items[6]!.samples).toBeUndefined();
    for (const [i, item] of items.entries()) {
      if (i === 6) continue;
      expect(item.error).toBeUndefined();
      expect(sameSamples(item.samples, decodeAudio(paths[i]!).samples)).toBe(true);
    }
    expect(progress).toEqual(paths.map((_, i) => i + 1));
  });

  it('stops on abort with an AbortError', async () => {
    const controller = new AbortController();
    const run = loadAudioBatch(ravdess, {}, { signal: controller.signal, onProgress: (p) => p.done === 2 && controller.abort() });
    const err = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAbortError(err)).toBe(true);
  });
});
