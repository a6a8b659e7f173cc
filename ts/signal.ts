/** Signal processing on Float32Arrays (16 kHz mono audio): STFT, mixing at an SNR, fixed-length framing. */
import { native, type Native } from './native.js';

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
  return native.stft(signal, options);
}

/** Inverse STFT (weighted overlap-add, torch.istft semantics). */
export function istft(spectrogram: Spectrogram, options: StftOptions, length?: number): Float32Array {
  return native.istft(spectrogram, options, length);
}

/**
 * Mixes noise into speech so that 10·log10(P_speech / P_noise) = snrDb over the utterance. The noise excerpt
 * starts at an offset drawn from `seed`; noise shorter than the speech is looped. Silent speech or noise throws.
 */
export function mixAtSnr(speech: Float32Array, noise: Float32Array, snrDb: number, seed: number): Mixture {
  return native.mixAtSnr(speech, noise, snrDb, seed);
}

/** Pads ("zero" | "repeat") or truncates a frames × bins matrix to `target` frames (the paper uses 500). */
export function fixLength(features: Float32Array, bins: number, target: number, mode: 'zero' | 'repeat'): FixedLength {
  return native.fixLength(features, bins, target, mode);
}
