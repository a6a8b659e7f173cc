/** Audio in: files or bytes → mono Float32Array at 16 kHz (or another rate), one at a time or in batches. */

import { type JobOptions, type ProgressOf, runJob, stages } from './jobs.js';
import { type Native, native } from './native.js';
import { AUDIO_OPTIONS, arrayOf, bytes as byteArray, callNative, path as filePath, optional, string } from './validate.js';

export type AudioOptions = Native.AudioOptions;
export type AudioClip = Native.AudioClip;
export type AudioBatchItem = Native.AudioBatchItem;

export type DecodeProgress = ProgressOf<'decode'>;

/** Decodes WAV (PCM 8/16/24/32-bit, float 32/64), FLAC, OGG/Vorbis or MP3; channels are averaged. */
export function decodeAudio(path: string, options?: AudioOptions): AudioClip {
  filePath(path, 'path');
  optional(AUDIO_OPTIONS)(options, 'options');
  return callNative(() => native.decodeAudio(path, options));
}

/** Like `decodeAudio` for bytes in memory; `name` appears in errors and hints the format by its extension. */
export function decodeAudioBytes(bytes: Uint8Array, name: string, options?: AudioOptions): AudioClip {
  byteArray(bytes, 'bytes');
  string()(name, 'name');
  optional(AUDIO_OPTIONS)(options, 'options');
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return callNative(() => native.decodeAudioBytes(buffer, name, options));
}

/**
 * Decodes many files on all cores. Resolves with one item per path in order: `samples` when it loaded,
 * `error` ({ code, message }) when it did not — a bad file never loses the others.
 */
export async function loadAudioBatch(paths: string[], options: AudioOptions = {}, job: JobOptions<DecodeProgress> = {}): Promise<AudioBatchItem[]> {
  arrayOf(filePath)(paths, 'paths');
  AUDIO_OPTIONS(options, 'options');
  return runJob((onProgress, signal) => native.loadAudioBatch(paths, options, onProgress, signal), stages('decode'), job);
}
