/** Speech enhancement (the frozen SE front end): classical (weight-free), GTCRN, CMGAN-format, model cards. */
import { native, type Native } from './native.js';
import { runJob, stages, type JobOptions, type ProgressOf } from './jobs.js';

export type EnhancerOptions = Native.EnhancerOptions;
export type EnhancerInfo = Native.EnhancerInfo;
export type EnhanceItem = Native.EnhanceItem;

export type EnhanceProgress = ProgressOf<'enhance'>;

/** Loads and checks the enhancer `options` describe; returns its name and fingerprint (the cache key prefix). */
export function enhancerInfo(options: EnhancerOptions = {}): EnhancerInfo {
  return native.enhancerInfo(options);
}

/**
 * Enhances 16 kHz mono waveforms on all cores. Each item has `samples` (same length as its input) or `error`;
 * with `cacheDir`, results are cached on disk per (enhancer fingerprint, input) and `cached` says which were.
 */
export function enhanceBatch(waves: Float32Array[], options: EnhancerOptions = {}, job: JobOptions<EnhanceProgress> = {}): Promise<EnhanceItem[]> {
  return runJob((onProgress, signal) => native.enhanceBatch(waves, options, onProgress, signal), stages('enhance'), job);
}

/** Enhances one waveform; throws the item's coded error if it fails. */
export async function enhance(wave: Float32Array, options: EnhancerOptions = {}, job: JobOptions<EnhanceProgress> = {}): Promise<Float32Array> {
  const [item] = await enhanceBatch([wave], options, job);
  if (item?.samples) return item.samples;
  const err = new Error(item?.error?.message ?? 'enhancement returned nothing');
  (err as Error & { code?: string }).code = item?.error?.code;
  throw err;
}

/** SNR of an estimate against a clean reference, in dB. */
export function snrDb(reference: Float32Array, estimate: Float32Array): number {
  return native.snrDb(reference, estimate);
}

/** Scale-invariant signal-to-distortion ratio, in dB. */
export function siSdrDb(reference: Float32Array, estimate: Float32Array): number {
  return native.siSdrDb(reference, estimate);
}

/** Writes mono samples as a 32-bit float WAV file (atomically). */
export function writeWav(path: string, samples: Float32Array, sampleRate = 16_000): void {
  native.writeWav(path, samples, sampleRate);
}
