/** Signal processing on Float32Arrays (16 kHz mono audio): STFT, mixing at an SNR, fixed-length framing. */
import { type Native, native } from './native.js';
import { callNative, finite, float32Array, integer, oneOf, optional, SPECTROGRAM, STFT_OPTIONS, seed as seedCheck } from './validate.js';

export type StftOptions = Native.StftOptions;
export type Spectrogram = Native.Spectrogram;
export type Mixture = Native.Mixture;
export type FixedLength = Native.FixedLength;

/** GTCRN's STFT settings (n_fft 512, hop 256, √Hann, centred, reflect padding). */
export const GTCRN_STFT: StftOptions = { nFft: 512, hopLength: 256, window: 'sqrt-hann', center: true, padMode: 'reflect' };
/** CMGAN's STFT settings (n_fft 400, hop 100, Hamming). */
export const CMGAN_STFT: StftOptions = { nFft: 400, hopLength: 100, window: 'hamming', center: true, padMode: 'reflect' };

/** Onesided complex STFT with torch.stft semantics; `data` is frames × bins × (re, im). */
export function stft(signal: Float32Array, options: StftOptions): Spectrogram {
  float32Array(signal, 'signal');
  STFT_OPTIONS(options, 'options');
  return callNative(() => native.stft(signal, options));
}

/** Inverse STFT (weighted overlap-add, torch.istft semantics). */
export function istft(spectrogram: Spectrogram, options: StftOptions, length?: number): Float32Array {
  SPECTROGRAM(spectrogram, 'spectrogram');
  STFT_OPTIONS(options, 'options');
  // Bounded against the spectrogram natively (what its frames cover).
  optional(integer(0, 2 ** 32 - 1, 'Pass the length of the signal the spectrogram was made from, or none.'))(length, 'length');
  return callNative(() => native.istft(spectrogram, options, length));
}

/**
 * Mixes noise into speech so that 10·log10(P_speech / P_noise) = snrDb over the utterance. The noise excerpt
 * starts at an offset drawn from `seed`; noise shorter than the speech is looped. Silent speech or noise throws.
 */
export function mixAtSnr(speech: Float32Array, noise: Float32Array, snrDb: number, seed: number): Mixture {
  float32Array(speech, 'speech');
  float32Array(noise, 'noise');
  finite(-200, 200, 'Pass the SNR in dB, e.g. 10.')(snrDb, 'snrDb');
  seedCheck(seed, 'seed');
  return callNative(() => native.mixAtSnr(speech, noise, snrDb, seed));
}

/** Pads ("zero" | "repeat") or truncates a frames × bins matrix to `target` frames (the paper uses 500). */
export function fixLength(features: Float32Array, bins: number, target: number, mode: 'zero' | 'repeat'): FixedLength {
  float32Array(features, 'features');
  integer(1, 1 << 16, 'Pass the number of columns per frame, e.g. 80.')(bins, 'bins');
  // The size it allocates (target × bins) is bounded natively.
  integer(1, 2 ** 32 - 1, 'Use a target such as the paper’s 500 frames.')(target, 'target');
  oneOf('zero', 'repeat')(mode, 'mode');
  return callNative(() => native.fixLength(features, bins, target, mode));
}
