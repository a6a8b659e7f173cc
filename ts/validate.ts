/**
 * Validation at the boundary, in one place. Every argument a façade function hands to the native addon is
 * checked here first, so that:
 * - a number is an integer or a finite float in a range before the addon sees it (N-API's u32 conversion
 *   turns −1 into 4294967295 and truncates 1.5 to 1; the native side bounds sizes against their inputs too);
 * - every option object rejects keys it does not know, naming them (a typo is not silently a default);
 * - a wrong type is a `TRNET_INVALID_ARGUMENT` error naming the argument, not N-API's own uncoded TypeError.
 *
 * The schemas of the option objects are typed against the generated native types (`Schema<T>` needs every
 * key of T), so a field added on the Rust side fails the type check until it is validated here.
 */
import { statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import type { TrnetError, TrnetErrorCode } from './errors.js';
import { type Native, native } from './native.js';

/** A check of one value; `name` is how the value is called in the error (e.g. "options.fbank.numMelBins"). */
export type Check = (value: unknown, name: string) => void;

/** One check per key of T, optional keys included. */
export type Schema<T> = { [K in keyof T]-?: Check };

export function codedError(code: TrnetErrorCode, message: string, cause?: unknown): TrnetError {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as TrnetError;
  err.code = code;
  return err;
}

/** The shape of every argument error: what, expected, found, fix (as the native errors say it). */
export function invalid(name: string, expected: string, found: unknown, fix: string): TrnetError {
  return codedError('TRNET_INVALID_ARGUMENT', `${name}: expected ${expected}, found ${describe(found)}. ${fix}`);
}

/** A "found" that is already a description (e.g. "an unknown key"), not a value to describe. */
export class Found {
  constructor(readonly text: string) {}
}

/** A short, safe description of any value for an error message (never its whole content). */
export function describe(v: unknown): string {
  if (v instanceof Found) return v.text;
  if (v === null) return 'null';
  if (v === undefined) return 'nothing (undefined)';
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return v.length > 80 ? `${JSON.stringify(v.slice(0, 80))}… (${v.length} characters)` : JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n (a BigInt)`;
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${(v as unknown as { length?: number }).length ?? v.byteLength}`;
  const ctor = (v as object).constructor?.name;
  return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
}

const U32_MAX = 2 ** 32 - 1;

/** An integer in [min, max]. */
export const integer =
  (min: number, max: number, fix = 'Pass a whole number in that range.'): Check =>
  (v, name) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(name, `an integer in ${min}..${max}`, v, fix);
  };

/** A finite number in [min, max]. */
export const finite =
  (min = -Number.MAX_VALUE, max = Number.MAX_VALUE, fix = 'Pass a finite number in that range.'): Check =>
  (v, name) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw invalid(name, min === -Number.MAX_VALUE && max === Number.MAX_VALUE ? 'a finite number' : `a finite number in [${min}, ${max}]`, v, fix);
    }
  };

/** Seeds: non-negative integers JavaScript represents exactly. */
export const seed: Check = integer(0, Number.MAX_SAFE_INTEGER, 'Pass a whole number such as 0 or 42.');

export const string =
  (fix = 'Pass a string.'): Check =>
  (v, name) => {
    if (typeof v !== 'string') throw invalid(name, 'a string', v, fix);
  };

/** A non-empty string that can be a file system path (no NUL byte, which the OS would cut the path at). */
export const path: Check = (v, name) => {
  if (typeof v !== 'string' || v.length === 0 || v.includes('\0'))
    throw invalid(name, 'a file or folder path (a non-empty string without NUL)', v, 'Pass a path such as "data/x.wav".');
};

/**
 * A path to a file the addon reads whole (a model, a model card): when it exists it must be a regular file.
 * A FIFO or a device would block the reading thread forever (an absent file gets the addon's own error).
 */
export const readableFile: Check = (v, name) => {
  path(v, name);
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(v as string);
  } catch {
    return;
  }
  if (!stat.isFile() && !stat.isDirectory()) {
    const kind = stat.isFIFO()
      ? 'a FIFO (named pipe)'
      : stat.isCharacterDevice()
        ? 'a character device'
        : stat.isBlockDevice()
          ? 'a block device'
          : stat.isSocket()
            ? 'a socket'
            : 'not a regular file';
    throw invalid(name, 'a regular file', new Found(`${JSON.stringify(v)}, ${kind}`), 'Pass the path of the file on disk.');
  }
};

export const oneOf =
  (...choices: string[]): Check =>
  (v, name) => {
    if (typeof v !== 'string' || !choices.includes(v))
      throw invalid(name, `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`, v, 'Pick one of those.');
  };

export const boolean: Check = (v, name) => {
  if (typeof v !== 'boolean') throw invalid(name, 'true or false', v, 'Pass a boolean.');
};

export const float32Array: Check = (v, name) => {
  if (!(v instanceof Float32Array)) throw invalid(name, 'a Float32Array', v, 'Convert the samples with Float32Array.from(...).');
};

export const bytes: Check = (v, name) => {
  if (!(v instanceof Uint8Array)) throw invalid(name, 'a Uint8Array or Buffer', v, 'Pass the file content, e.g. from fs.readFileSync.');
};

export const func: Check = (v, name) => {
  if (typeof v !== 'function') throw invalid(name, 'a function', v, 'Pass a function or leave it out.');
};

export const abortSignal: Check = (v, name) => {
  if (!(v instanceof AbortSignal)) throw invalid(name, 'an AbortSignal', v, 'Pass AbortController.signal or leave it out.');
};

/** Absent (undefined or null, as the addon treats both) or passing `check`. */
export const optional =
  (check: Check): Check =>
  (v, name) => {
    if (v !== undefined && v !== null) check(v, name);
  };

export const arrayOf =
  (check: Check, max = U32_MAX): Check =>
  (v, name) => {
    if (!Array.isArray(v)) throw invalid(name, 'an array', v, 'Pass an array.');
    if (v.length > max) throw invalid(name, `at most ${max} elements`, v, 'Pass fewer.');
    for (const [i, x] of v.entries()) check(x, `${name}[${i}]`);
  };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A plain object with only the schema's keys, each passing its check. */
export function object<T>(schema: Schema<T>): Check {
  const known = Object.keys(schema);
  return (v, name) => {
    if (!isPlainObject(v)) throw invalid(name, 'an object', v, 'Pass an object literal such as {}.');
    for (const key of Object.keys(v)) {
      if (!Object.hasOwn(schema, key)) {
        throw invalid(
          `${name}.${key}`,
          `one of the known keys (${known.join(', ')})`,
          new Found(`the unknown key ${JSON.stringify(key)}`),
          'Remove it or correct its spelling.',
        );
      }
    }
    for (const key of known) (schema as Record<string, Check>)[key]!(v[key], `${name}.${key}`);
  };
}

/** Runs `check` on `value`; the TypeScript-facing form used by the façade. */
export function check<T>(value: unknown, name: string, c: Check): asserts value is T {
  c(value, name);
}

// ---- The schemas of the public option objects --------------------------------------------------------

const MAX_RATE = 768_000; // trnet_dsp::resample::MAX_RATE
const MAX_THREADS = 1024;
/** Frames per item: the paper uses 500; 100 000 (1000 s at 10 ms) is far beyond any utterance. */
const MAX_FRAMES = 100_000;

export const sampleRate: Check = integer(1, MAX_RATE, 'Pass the rate in Hz, e.g. 16000.');

export const AUDIO_OPTIONS: Check = object<Native.AudioOptions>({ targetRate: optional(sampleRate) });

const anyFinite = optional(finite());
export const FBANK_OPTIONS: Check = object<Native.FbankOptions>({
  // Ranges of the floats are the fbank's own rules (crates/trnet-dsp/src/fbank/options.rs), which name
  // the option; here they only have to be finite numbers.
  blackmanCoeff: anyFinite,
  dither: anyFinite,
  ditherSeed: optional(seed),
  energyFloor: anyFinite,
  frameLength: anyFinite,
  frameShift: anyFinite,
  highFreq: anyFinite,
  htkCompat: optional(boolean),
  lowFreq: anyFinite,
  logFloor: anyFinite,
  minDuration: anyFinite,
  numMelBins: optional(integer(3, 1 << 16, 'Use e.g. 80 (the paper) or 23 (torchaudio’s default).')),
  preemphasisCoefficient: anyFinite,
  rawEnergy: optional(boolean),
  removeDcOffset: optional(boolean),
  roundToPowerOfTwo: optional(boolean),
  sampleFrequency: anyFinite,
  snipEdges: optional(boolean),
  subtractMean: optional(boolean),
  useEnergy: optional(boolean),
  useLogFbank: optional(boolean),
  usePower: optional(boolean),
  vtlnHigh: anyFinite,
  vtlnLow: anyFinite,
  vtlnWarp: anyFinite,
  windowType: optional(oneOf('povey', 'hamming', 'hanning', 'rectangular', 'blackman')),
});

const threads: Check = integer(1, MAX_THREADS, 'Use at least 1 thread (default 1).');

export const ENHANCER_OPTIONS: Check = object<Native.EnhancerOptions>({
  kind: optional(oneOf('classical', 'gtcrn', 'cmgan', 'card')),
  model: optional(readableFile),
  card: optional(readableFile),
  cacheDir: optional(path),
  intraThreads: optional(threads),
});

const N_FFT_MAX = 1 << 16; // trnet_dsp::limits::MAX_N_FFT
export const STFT_OPTIONS: Check = object<Native.StftOptions>({
  nFft: integer(2, N_FFT_MAX, 'Use a frame length such as 512.'),
  hopLength: integer(1, N_FFT_MAX, 'Use a hop no longer than nFft, such as 256.'),
  winLength: optional(integer(1, N_FFT_MAX, 'Use a window no longer than nFft.')),
  window: optional(oneOf('hann', 'sqrt-hann', 'hamming', 'rectangular')),
  center: optional(boolean),
  padMode: optional(oneOf('reflect', 'constant')),
});

export const SPECTROGRAM: Check = (v, name) => {
  object<Native.Spectrogram>({ frames: integer(0, U32_MAX), bins: integer(1, N_FFT_MAX / 2 + 1), data: float32Array })(v, name);
  const s = v as Native.Spectrogram;
  if (s.data.length !== s.frames * s.bins * 2)
    throw invalid(`${name}.data`, `frames × bins × 2 = ${s.frames * s.bins * 2} values`, s.data, 'Pass a spectrogram as stft returns it.');
};

export const BENCH_OPTIONS: Check = object<Native.BurnOptions>({
  size: optional(integer(1, 4096, 'Use e.g. 256 or 512.')),
  steps: optional(integer(0, 1_000_000, 'Use e.g. 20.')),
  device: optional(string()),
  seed: optional(seed),
});

export const STORE_OPTIONS: Check = object<Native.FeatureStoreOptions>({ dir: path });

export const FEATURE_SET_OPTIONS: Check = object<Native.FeatureSetOptions>({
  noises: optional(arrayOf(path)),
  noisy: optional(oneOf('none', 'one-per-utterance', 'one-per-snr')),
  includeClean: optional(boolean),
  snrsDb: optional(arrayOf(finite(-200, 200, 'Use SNRs in dB such as 20, 10, 0.'), 1024)),
  seed: optional(seed),
  frames: optional(integer(1, MAX_FRAMES, 'Use e.g. the paper’s 500 frames (5 s).')),
  pad: optional(oneOf('zero', 'repeat')),
  fbank: optional(FBANK_OPTIONS),
  waveformScale: optional(finite(Number.MIN_VALUE, 1e6, 'Use 1 for samples in [-1, 1] or 32768 for int16 scale.')),
  enhancer: optional(ENHANCER_OPTIONS),
  store: optional(STORE_OPTIONS),
});

const MAX_LABEL = (1 << 16) - 1;
export const UTTERANCE_SPEC: Check = object<Native.UtteranceSpec>({
  path,
  label: integer(0, MAX_LABEL, 'Labels are class indices 0..numClasses−1.'),
  speaker: string(),
  id: optional(string()),
});

/** Utterance ids name the predictions; two alike would make a report ambiguous. */
export function uniqueIds(utterances: Native.UtteranceSpec[], name: string): void {
  const seen = new Map<string, number>();
  utterances.forEach((u, i) => {
    // The native side names an utterance without an id by its file stem.
    const id = u.id || basename(u.path, extname(u.path));
    const first = seen.get(id);
    if (first !== undefined) {
      throw invalid(
        `${name}[${i}].id`,
        `an id no other utterance has`,
        new Found(`${JSON.stringify(id)}, the id of ${name}[${first}] (${utterances[first]!.path}) too`),
        'Give each utterance a unique `id` (e.g. speaker and file name).',
      );
    }
    seen.set(id, i);
  });
}

export const JOB_OPTIONS: Check = object<{ onProgress?: unknown; signal?: unknown }>({ onProgress: optional(func), signal: optional(abortSignal) });
export const SIGNAL_ONLY: Check = object<{ signal?: unknown }>({ signal: optional(abortSignal) });

export const featureSet: Check = (v, name) => {
  if (!(v instanceof native.FeatureSet)) throw invalid(name, 'a FeatureSet (from buildFeatureSet or openFeatureSet)', v, 'Build one with buildFeatureSet.');
};

const VARIANTS = ['baseline-c', 'baseline-n', 'baseline-e', 'trnet', 'trnet-no-low', 'trnet-no-high'];

/** The config's fields are the Rust struct's to check (unknown ones included); here only its shape and the
 * variant, which has a default there but must be chosen by the caller (without it the default, TRNet, asks
 * for a reference checkpoint the caller never meant to need). */
export const MODEL_CONFIG: Check = (v, name) => {
  if (!isPlainObject(v)) throw invalid(name, 'an object such as { variant: "trnet" }', v, 'Pass a model config.');
  if (v.variant === undefined)
    throw invalid(
      `${name}.variant`,
      `one of ${VARIANTS.map((x) => JSON.stringify(x)).join(', ')}`,
      undefined,
      'Choose the variant to train, e.g. { variant: "baseline-c" }.',
    );
  oneOf(...VARIANTS)(v.variant, `${name}.variant`);
};

const configObject: Check = (v, name) => {
  if (!isPlainObject(v)) throw invalid(name, 'an object', v, 'Pass a config object such as { epochs: 80 }.');
};

const trainOptionsSchema = {
  trainConfig: optional(configObject),
  trainSet: featureSet,
  valSet: featureSet,
  reference: optional(path),
  outDir: path,
};
export const TRAIN_OPTIONS: Check = object<{
  modelConfig: unknown;
  trainConfig?: unknown;
  trainSet: unknown;
  valSet: unknown;
  reference?: unknown;
  outDir: unknown;
}>({ modelConfig: MODEL_CONFIG, ...trainOptionsSchema });
// `modelConfig` is accepted so that the options given to train can be given to resume again; the run
// folder's own config is what resumes.
export const RESUME_OPTIONS: Check = object<{
  modelConfig?: unknown;
  trainConfig?: unknown;
  trainSet: unknown;
  valSet: unknown;
  reference?: unknown;
  outDir: unknown;
}>({ modelConfig: optional(MODEL_CONFIG), ...trainOptionsSchema });

/** Validation must not learn from the speakers it judges: a speaker in both sets inflates every score. */
export function disjointSpeakers(trainSet: Native.FeatureSet, valSet: Native.FeatureSet): void {
  const train = new Set(trainSet.speakers());
  const shared = [...new Set(valSet.speakers())].filter((s) => train.has(s)).sort();
  if (shared.length > 0) {
    const shown =
      shared
        .slice(0, 5)
        .map((s) => JSON.stringify(s))
        .join(', ') + (shared.length > 5 ? `, … (${shared.length} in all)` : '');
    throw invalid(
      'options.valSet',
      'speakers the training set does not have',
      new Found(`speakers in both sets: ${shown}`),
      'Split by speaker (e.g. losoFolds) so that no speaker trains and validates.',
    );
  }
}

export const EVALUATE_OPTIONS: Check = object<{ device?: unknown; embeddings?: unknown }>({ device: optional(string()), embeddings: optional(boolean) });

export const ONNX_SESSION_OPTIONS: Check = object<Native.OnnxSessionOptions>({ intraThreads: optional(threads) });

export const NAMED_TENSOR: Check = (v, name) => {
  object<Native.NamedTensor>({ name: string(), dims: arrayOf(integer(0, U32_MAX), 16), data: float32Array })(v, name);
  const t = v as Native.NamedTensor;
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (n !== t.data.length)
    throw invalid(`${name}.data`, `${n} values (the product of dims ${JSON.stringify(t.dims)})`, t.data, 'Pass as many values as the dims describe.');
};

// ---- Errors that did not come from these checks -------------------------------------------------------

/**
 * Gives an error from the addon that has no trnet code one: N-API's own conversion errors (a value of the
 * wrong type that slipped past the checks above) become TRNET_INVALID_ARGUMENT, anything else
 * TRNET_INTERNAL (a bug to report). Coded errors and aborts pass through unchanged.
 */
export function recode(err: unknown): unknown {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  if (typeof code === 'string' && (code.startsWith('TRNET_') || code === 'ABORT_ERR')) return err;
  if (err instanceof Error && err.name === 'AbortError') return err;
  const message = err instanceof Error ? err.message : String(err);
  const conversion = typeof code === 'string' && /Expected$|^InvalidArg$/.test(code);
  return conversion
    ? codedError('TRNET_INVALID_ARGUMENT', `an argument has the wrong type: ${message}. Check the argument types in the documentation.`, err)
    : codedError(
        'TRNET_INTERNAL',
        `the native addon failed without a trnet error code (${message}). This is a bug in trnet; please report it with the call that caused it.`,
        err,
      );
}

/** Runs a synchronous native call, coding any error it throws. */
export function callNative<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw recode(err);
  }
}

// ---- load() and Model.predict (ts/predict.ts) ----
const PREDICT_FEATURES: Check = object<{ frames: unknown; pad: unknown; fbank: unknown; waveformScale: unknown }>({
  frames: integer(1, 100_000, 'Pass the frame count the model was trained with (features.frames, e.g. 500).'),
  pad: optional(oneOf('zero', 'repeat')),
  fbank: optional(FBANK_OPTIONS),
  waveformScale: optional(finite(Number.MIN_VALUE, 1e6, 'Pass the features.waveformScale the model was trained with (1 or 32768).')),
});
export const LOAD_OPTIONS: Check = object<{
  classes: unknown;
  features: unknown;
  enhancer: unknown;
  allowDifferentEnhancer: unknown;
  device: unknown;
  threads: unknown;
  intraOpThreads: unknown;
  precision: unknown;
}>({
  classes: optional(arrayOf(string(), 1 << 16)),
  features: optional(PREDICT_FEATURES),
  enhancer: optional(ENHANCER_OPTIONS),
  allowDifferentEnhancer: optional(boolean),
  device: optional(string()),
  threads: optional(integer(1, MAX_THREADS, 'Pass how many predictions may run natively at once, e.g. 4.')),
  intraOpThreads: optional(integer(1, MAX_THREADS, 'Pass libtorch threads per forward pass, e.g. 1.')),
  precision: optional(oneOf('fp32', 'bf16')),
});
/** Shortest timeline window: one fbank frame of the paper's features (25 ms); the model's own check is exact. */
export const MIN_TIMELINE_WINDOW_S = 0.025;
/** Shortest hop: one fbank frame shift (10 ms); shorter hops only multiply near-identical windows. */
export const MIN_TIMELINE_HOP_S = 0.01;
export const PREDICT_OPTIONS: Check = object<{ embedding: unknown }>({ embedding: optional(boolean) });
const TIMELINE_FIELDS: Check = object<{ window: unknown; hop: unknown; silenceDb: unknown; silenceFloorDb: unknown }>({
  window: optional(finite(MIN_TIMELINE_WINDOW_S, 86_400, 'Pass the window length in seconds, e.g. 2.')),
  hop: optional(finite(MIN_TIMELINE_HOP_S, 86_400, 'Pass the hop in seconds, e.g. 1.')),
  silenceDb: optional(finite(0, 200, 'Pass how many dB below the loudest window is silence, e.g. 35.')),
  silenceFloorDb: optional(finite(-400, 0, 'Pass a level in dB re full scale, e.g. -60.')),
});
export const TIMELINE_OPTIONS: Check = (v, name) => {
  TIMELINE_FIELDS(v, name);
  const { window, hop } = v as { window?: number; hop?: number };
  if (typeof window === 'number' && typeof hop === 'number' && hop > window)
    throw invalid(
      `${name}.hop`,
      `at most the window (${window} s)`,
      hop,
      'Pass a hop no longer than the window (equal: windows that touch; shorter: overlapping windows).',
    );
};
const SAMPLES_INPUT: Check = object<{ samples: Float32Array; sampleRate: number }>({
  samples: (v, name) => {
    if (!(v instanceof Float32Array)) throw invalid(name, 'a Float32Array', v, 'Pass mono samples in [-1, 1].');
  },
  sampleRate,
});
export const PREDICT_INPUT: Check = (v, name) => {
  if (typeof v === 'string') return path(v, name);
  if (v instanceof Uint8Array) return;
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v)) return SAMPLES_INPUT(v, name);
  throw invalid(name, 'a file path, a Buffer of encoded audio or { samples: Float32Array, sampleRate }', v, 'Pass one of those.');
};
