/** Log-Mel filterbank features equal to torchaudio.compliance.kaldi.fbank, computed natively. */

import { type JobOptions, type ProgressOf, runJob, stages } from './jobs.js';
import { type Native, native } from './native.js';
import { arrayOf, callNative, FBANK_OPTIONS, float32Array, optional } from './validate.js';

export type FbankOptions = Native.FbankOptions;
export type Features = Native.Features;
export type FeaturesBatchItem = Native.FeaturesBatchItem;

/** The paper's features (§4.2): 80 bins, 25 ms frames, 10 ms shift; the rest are torchaudio's defaults. */
export const PAPER_FBANK: Readonly<FbankOptions> = Object.freeze({ numMelBins: 80, frameLength: 25, frameShift: 10 });

export type FbankProgress = ProgressOf<'fbank'>;

/**
 * Filterbank of one 16 kHz mono waveform (options and defaults as torchaudio's, so the default is 23 bins —
 * pass PAPER_FBANK for 80). Returns frames × bins, row-major.
 */
export function fbank(wave: Float32Array, options?: FbankOptions): Features {
  float32Array(wave, 'wave');
  optional(FBANK_OPTIONS)(options, 'options');
  return callNative(() => native.fbank(wave, options));
}

/** Filterbanks of many waveforms on all cores; one item per waveform in order, with `error` for bad ones. */
export async function fbankBatch(waves: Float32Array[], options?: FbankOptions, job: JobOptions<FbankProgress> = {}): Promise<FeaturesBatchItem[]> {
  arrayOf(float32Array)(waves, 'waves');
  optional(FBANK_OPTIONS)(options, 'options');
  return runJob((onProgress, signal) => native.fbankBatch(waves, options, onProgress, signal), stages('fbank'), job);
}
