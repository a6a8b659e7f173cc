/** Speech enhancement (the frozen SE front end): classical (weight-free), GTCRN, CMGAN-format, model cards. */

import { type JobOptions, type ProgressOf, runJob, stages } from './jobs.js';
import { type Native, native } from './native.js';
import { arrayOf, callNative, ENHANCER_OPTIONS, float32Array, path, sampleRate } from './validate.js';

export type EnhancerOptions = Native.EnhancerOptions;
export type EnhancerInfo = Native.EnhancerInfo;
export type EnhanceItem = Native.EnhanceItem;

export type EnhanceProgress = ProgressOf<'enhance'>;

/** Loads and checks the enhancer `options` describe; returns its name and fingerprint (the cache key prefix). */
export function enhancerInfo(options: EnhancerOptions = {}): EnhancerInfo {
  ENHANCER_OPTIONS(options, 'options');
  return callNative(() => native.enhancerInfo(options));
}

/**
 * Enhances 16 kHz mono waveforms on all cores. Each item has `samples` (same length as its input) or `error`;
 * with `cacheDir`, results are cached on disk per (enhancer fingerprint, input) and `cached` says which were.
 */
export async function enhanceBatch(waves: Float32Array[], options: EnhancerOptions = {}, job: JobOptions<EnhanceProgress> = {}): Promise<EnhanceItem[]> {
  arrayOf(float32Array)(waves, 'waves');
  ENHANCER_OPTIONS(options, 'options');
  return runJob((onProgress, signal) => native.enhanceBatch(waves, options, onProgress, signal), stages('enhance'), job);
}

/** Enhances one waveform; throws the item's coded error if it fails. */
export async function enhance(wave: Float32Array, options: EnhancerOptions = {}, job: JobOptions<EnhanceProgress> = {}): Promise<Float32Array> {
  float32Array(wave, 'wave');
  const [item] = await enhanceBatch([wave], options, job);
  if (item?.samples) return item.samples;
  const err = new Error(item?.error?.message ?? 'enhancement returned nothing');
  (err as Error & { code?: string }).code = item?.error?.code ?? 'TRNET_INTERNAL';
  throw err;
}

/** SNR of an estimate against a clean reference, in dB. */
export function snrDb(reference: Float32Array, estimate: Float32Array): number {
  float32Array(reference, 'reference');
  float32Array(estimate, 'estimate');
  return callNative(() => native.snrDb(reference, estimate));
}

/** Scale-invariant signal-to-distortion ratio, in dB. */
export function siSdrDb(reference: Float32Array, estimate: Float32Array): number {
  float32Array(reference, 'reference');
  float32Array(estimate, 'estimate');
  return callNative(() => native.siSdrDb(reference, estimate));
}

/** Writes mono samples as a 32-bit float WAV file (atomically). */
export function writeWav(file: string, samples: Float32Array, rate = 16_000): void {
  path(file, 'path');
  float32Array(samples, 'samples');
  sampleRate(rate, 'sampleRate');
  callNative(() => native.writeWav(file, samples, rate));
}
