/**
 * The property-based test of the whole exported API (issue 11), run as a child process by
 * test/api-fuzz.test.ts so that an abort or a hang is seen from outside. Every exported function (and the
 * methods of the objects they return) gets random and adversarial arguments from fast-check: negative, NaN,
 * infinite and huge numbers, null, strings, objects with extra keys, typed arrays of the wrong kind, special
 * files; mostly well-shaped so that calls reach the native side too. Each call must return, or fail with an
 * Error whose code is TRNET_* (or an AbortError), within a time bound. Prints one JSON line: what ran and what
 * failed. Runs in a temporary working folder (random relative paths land there).
 *
 * Usage: node test/fuzz/api-fuzz.mjs <shared folder> [seed] [budget seconds]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const shared = resolve(process.argv[2] ?? join(repo, '../shared'));
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const budgetMs = Number(process.argv[4] ?? 40) * 1000;
/** A synchronous call may take this long; a job must settle this long after it was aborted. */
const SYNC_LIMIT_MS = 10_000;
const ABORT_AFTER_MS = 1_000;
const SETTLE_LIMIT_MS = 15_000;

const t = await import(pathToFileURL(join(repo, 'dist/index.js')).href);

const work = mkdtempSync(join(tmpdir(), 'trnet-fuzz-'));
process.chdir(work);
writeFileSync('notaudio.txt', 'hello, not audio');
execFileSync('mkfifo', ['fifo.wav']);
mkdirSync('adir');

// Real inputs, so that well-shaped calls reach the native code.
const actor = (a) =>
  readdirSync(join(shared, 'data/ravdess', a))
    .sort()
    .slice(0, 3)
    .map((f) => join(shared, 'data/ravdess', a, f));
const audio = [...actor('Actor_01'), ...actor('Actor_02')];
const esc = join(shared, 'data/esc50/audio');
const noise = join(esc, readdirSync(esc).sort()[0]);
const gtcrn = join(shared, 'models/gtcrn/gtcrn_simple.onnx');
const utt = (path, i) => ({ path, label: i % 4, speaker: i < 3 ? 'Actor_01' : 'Actor_02', id: `u${i}` });
const setA = await t.buildFeatureSet(audio.slice(0, 3).map(utt), { frames: 20, noisy: 'none' });
const setB = await t.buildFeatureSet(
  audio.slice(3).map((p, i) => utt(p, i + 3)),
  { frames: 20, noisy: 'none' },
);
// A finished run: a checkpoint for evaluate, a run folder for resumeTraining.
const run0 = await t.train({
  modelConfig: { variant: 'baseline-c', channels: [4, 8], numClasses: 4 },
  trainConfig: { epochs: 1, batchSize: 2 },
  trainSet: setA,
  valSet: setB,
  outDir: 'run0',
});
const audioBytes = new Uint8Array(readFileSync(audio[0]));
// A loaded model for predict (run0's Baseline-c: no SE on the way).
const model0 = await t.load(run0.bestDir, { classes: ['a', 'b', 'c', 'd'], features: { frames: 20 }, enhancer: {} });

// ---- Values ----------------------------------------------------------------------------------------------
const weirdNumber = fc.constantFrom(
  -1,
  0,
  1,
  1.5,
  -0,
  NaN,
  Infinity,
  -Infinity,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  1e10,
  -1e10,
  5e7,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
);
const number = fc.oneof(
  { weight: 1, arbitrary: weirdNumber },
  { weight: 3, arbitrary: fc.integer({ min: -10, max: 30 }) },
  { weight: 1, arbitrary: fc.double() },
);
const junk = fc.oneof(
  weirdNumber,
  fc.constantFrom(
    null,
    undefined,
    '',
    'x',
    true,
    false,
    [],
    {},
    { extra: 1 },
    () => 1,
    Symbol('s'),
    10n,
    new Uint8Array(3),
    new Float64Array(3),
    new Date(0),
    new Map(),
  ),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.array(fc.oneof(fc.integer(), fc.constant(null), fc.string({ maxLength: 3 })), { maxLength: 5 }),
);
/** Mostly `valid`, sometimes anything. */
const maybe = (valid) => fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: junk });
const wave = fc.oneof(
  fc.constant(new Float32Array(0)),
  fc.float32Array({ maxLength: 2048 }),
  fc.integer({ min: 0, max: 40_000 }).map((n) => Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin(i * 0.05))),
);
const f32 = maybe(wave);
const int = (min, max) => maybe(fc.oneof({ weight: 5, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: weirdNumber }));
const choice = (...xs) => maybe(fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...xs) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }));
const relative = fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !s.includes('..') && !s.startsWith('/') && !s.startsWith('~'));
const path = maybe(
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...audio, noise) },
    { weight: 1, arbitrary: relative },
    fc.constantFrom(
      ...audio,
      noise,
      gtcrn,
      'notaudio.txt',
      'fifo.wav',
      'adir',
      '/dev/zero',
      '/dev/null',
      '/proc/x',
      '/nonexistent/x.wav',
      '',
      'a\0b',
      'out/x.wav',
      join(shared, 'data/ravdess'),
      join(shared, 'data/esc50'),
    ),
  ),
);
const outDir = maybe(fc.oneof(relative, fc.constantFrom('/proc/x', 'adir', 'notaudio.txt', 'fifo.wav')));
const set = maybe(fc.constantFrom(setA, setB));
/** An options object of `shape` (every key optional), sometimes with an unknown key, sometimes junk. */
const options = (shape) => {
  const rec = fc.record(shape, { requiredKeys: [] });
  return fc.oneof(
    { weight: 12, arbitrary: rec },
    { weight: 1, arbitrary: fc.tuple(rec, fc.string({ minLength: 1, maxLength: 6 }), junk).map(([o, k, v]) => ({ ...o, [k]: v })) },
    { weight: 1, arbitrary: junk },
  );
};
const SIGNAL = Symbol('signal');
/** Job options: a signal the harness aborts, sometimes a progress callback that throws, sometimes junk. */
// A job the harness cannot abort (no signal) may rightly run long, so the other shapes are all invalid.
const job = fc.oneof(
  { weight: 6, arbitrary: fc.constant(SIGNAL) },
  { weight: 1, arbitrary: fc.constantFrom('x', 5, [], { signal: 'x' }, { onProgress: 'x' }, { extra: 1 }, { signal: 1 }, new Map()) },
);
const fbankRecord = options({
  numMelBins: int(0, 200),
  frameLength: number,
  frameShift: number,
  sampleFrequency: number,
  dither: number,
  ditherSeed: int(0, 10),
  snipEdges: maybe(fc.boolean()),
  subtractMean: maybe(fc.boolean()),
  windowType: choice('povey', 'hamming', 'hanning', 'rectangular', 'blackman'),
  useEnergy: maybe(fc.boolean()),
  lowFreq: number,
  highFreq: number,
});
const fbankOptions = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(undefined, {}, { numMelBins: 40 }, t.PAPER_FBANK) },
  { weight: 2, arbitrary: fbankRecord },
);
const enhancerRecord = options({ kind: choice('classical', 'gtcrn', 'cmgan', 'card'), model: path, card: path, cacheDir: outDir, intraThreads: int(-2, 4) });
const enhancerOptions = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom({}, { kind: 'classical' }, { kind: 'gtcrn', model: gtcrn }, { kind: 'classical', cacheDir: 'cache' }) },
  { weight: 2, arbitrary: enhancerRecord },
);
const stftOptions = options({
  nFft: int(0, 70_000),
  hopLength: int(0, 70_000),
  winLength: int(0, 70_000),
  window: choice('hann', 'sqrt-hann', 'hamming', 'rectangular'),
  center: maybe(fc.boolean()),
  padMode: choice('reflect', 'constant'),
});
const spectrogram = maybe(
  fc.oneof(
    wave.map((w) => (w.length > 600 ? t.stft(w, t.GTCRN_STFT) : { frames: 0, bins: 257, data: new Float32Array(0) })),
    fc.record({ frames: number, bins: number, data: f32 }),
  ),
);
const utterance = maybe(
  fc.record(
    { path, label: int(-1, 5), speaker: maybe(fc.constantFrom('Actor_01', 'Actor_02', 's')), id: maybe(fc.string({ maxLength: 4 })) },
    { requiredKeys: ['path', 'label', 'speaker'] },
  ),
);
const corpusUtterance = maybe(
  fc.record({ session: maybe(fc.constantFrom('s1', 's2', 's3')), speaker: maybe(fc.constantFrom('a', 'b', 'c', 'd')), path, id: fc.string({ maxLength: 3 }) }),
);
const variant = choice('baseline-c', 'baseline-n', 'baseline-e', 'trnet', 'trnet-no-low', 'trnet-no-high');
const modelConfig = maybe(
  fc.record({ variant, channels: maybe(fc.constantFrom([4, 8], [2])), numClasses: int(0, 5), nMels: int(0, 100) }, { requiredKeys: [] }),
);
const trainRecord = options({
  epochs: int(0, 2),
  batchSize: int(0, 8),
  learningRate: number,
  seed: int(0, 5),
  device: choice('cpu', 'cuda', 'auto'),
  threads: int(0, 2),
});
const trainConfig = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(undefined, {}, { epochs: 1, batchSize: 2 }, { epochs: 1000, batchSize: 2 }) },
  { weight: 1, arbitrary: trainRecord },
);
const pair = fc.oneof({ weight: 3, arbitrary: fc.constantFrom([setA, setB], [setB, setA]) }, { weight: 1, arbitrary: fc.tuple(set, set) });
const trainOptions = (withModel) =>
  maybe(
    fc
      .tuple(
        pair,
        fc.record(
          {
            ...(withModel ? { modelConfig } : {}),
            trainConfig,
            reference: maybe(fc.constantFrom(undefined, run0.bestDir, 'adir')),
            outDir: fc.oneof(outDir, fc.constant('run0')),
          },
          { requiredKeys: withModel ? ['modelConfig', 'outDir'] : ['outDir'] },
        ),
      )
      .map(([[trainSet, valSet], o]) => ({ ...o, trainSet, valSet })),
  );
/** Experiment configs: mostly shaped like one (sometimes valid: the real corpora of ../shared), sometimes junk. */
const corpusPath = maybe(fc.oneof(path, fc.constantFrom(join(shared, 'data/ravdess'), join(shared, 'data/esc50'), join(shared, 'data/noise-speechcommands'))));
const noiseConfig = maybe(
  fc.record(
    { reader: choice('esc50', 'musan', 'folder'), path: corpusPath, folds: maybe(fc.constantFrom([4], [9], [])), limit: int(-1, 20) },
    { requiredKeys: ['reader', 'path'] },
  ),
);
const experimentConfig = maybe(
  fc.record(
    {
      outDir,
      corpus: maybe(
        fc.record(
          {
            reader: choice('ravdess', 'iemocap', 'emodb', 'crema-d', 'manifest'),
            path: corpusPath,
            classes: maybe(fc.constantFrom(['angry', 'sad'], [], ['x', 'x'])),
            speakers: maybe(fc.constantFrom(['Actor_01', 'Actor_02', 'Actor_03', 'Actor_04'], ['nobody'])),
          },
          { requiredKeys: ['reader', 'path'] },
        ),
      ),
      noise: maybe(
        fc.record(
          { matched: noiseConfig, unmatched: maybe(fc.oneof(fc.constant(null), noiseConfig)), split: choice('disjoint', 'shared') },
          { requiredKeys: ['matched'] },
        ),
      ),
      seeds: maybe(fc.array(int(-1, 3), { maxLength: 2 })),
      folds: options({ limit: int(-1, 2) }),
      features: options({ frames: int(-1, 50), waveformScale: number }),
      training: maybe(fc.constantFrom({ epochs: 1 }, { epochs: -1 }, {})),
      model: maybe(fc.constantFrom({ channels: [2, 4] }, { variant: 'trnet' })),
    },
    { requiredKeys: ['outDir', 'corpus', 'noise'] },
  ),
);
const predictInput = maybe(
  fc.oneof(path, fc.constant(audioBytes), fc.uint8Array({ maxLength: 256 }), fc.record({ samples: f32, sampleRate: int(-1, 96_000) })),
);
const loadOptions = options({
  classes: maybe(fc.constantFrom(['a', 'b', 'c', 'd'], ['a'], [])),
  features: maybe(fc.record({ frames: int(-1, 200), pad: choice('zero', 'repeat'), fbank: fbankOptions }, { requiredKeys: [] })),
  enhancer: enhancerOptions,
  allowDifferentEnhancer: maybe(fc.boolean()),
  device: choice('cpu', 'cuda'),
  threads: maybe(int(-1, 8)),
  intraOpThreads: maybe(int(-1, 2)),
  precision: choice('fp32', 'bf16', 'fp16'),
});
const timelineOptions = options({
  window: maybe(fc.constantFrom(-1, 0, 0.01, 0.1, 0.2, 5, Number.NaN)),
  hop: maybe(fc.constantFrom(-1, 0, 0.01, 0.05, 0.3)),
  silenceDb: maybe(fc.constantFrom(-1, 0, 35)),
  silenceFloorDb: maybe(fc.constantFrom(-60, 1, -Infinity)),
});
const tensor = maybe(fc.record({ name: fc.constantFrom('mix', 'conv_cache', 'x'), dims: maybe(fc.array(int(-1, 300), { maxLength: 5 })), data: f32 }));

// ---- The API: every export, and the methods of what the exports return --------------------------------------
const api = {
  info: [fc.tuple()],
  configureMalloc: [fc.tuple(maybe(fc.constantFrom('fast', 'default')))],
  softmax: [fc.tuple(f32, int(-1, 10))],
  benchMatmul: [fc.tuple(options({ size: int(-1, 300), steps: int(-1, 1000), device: choice('cpu', 'cuda', 'auto', 'cuda:7'), seed: int(0, 3) }), job), 8],
  stft: [fc.tuple(f32, stftOptions)],
  istft: [
    fc.oneof(
      wave.filter((w) => w.length > 300).map((w) => [t.stft(w, t.GTCRN_STFT), t.GTCRN_STFT, w.length]),
      fc.tuple(spectrogram, stftOptions, maybe(fc.oneof(fc.integer({ min: -1, max: 50_000 }), weirdNumber))),
    ),
  ],
  mixAtSnr: [fc.tuple(f32, f32, number, int(-1, 10))],
  fixLength: [fc.tuple(f32, int(-1, 100), int(-1, 5000), choice('zero', 'repeat'))],
  decodeAudio: [fc.tuple(path, options({ targetRate: int(-1, 48_000) }))],
  decodeAudioBytes: [
    fc.tuple(
      maybe(
        fc.oneof(
          fc.constant(audioBytes),
          fc.uint8Array({ maxLength: 256 }),
          fc.constantFrom(...audio.slice(0, 1)).map((p) => new Uint8Array(Buffer.from(p))),
        ),
      ),
      maybe(fc.constantFrom('x.wav', 'x.flac', 'x')),
      options({ targetRate: int(-1, 48_000) }),
    ),
  ],
  loadAudioBatch: [fc.tuple(maybe(fc.array(path, { maxLength: 40 })), options({ targetRate: int(-1, 48_000) }), job), 30],
  fbank: [fc.tuple(f32, fbankOptions)],
  fbankBatch: [fc.tuple(maybe(fc.array(f32, { maxLength: 6 })), fbankOptions, job), 30],
  enhance: [fc.tuple(f32, enhancerOptions, job), 30],
  enhanceBatch: [fc.tuple(maybe(fc.array(f32, { maxLength: 4 })), enhancerOptions, job), 30],
  enhancerInfo: [fc.tuple(enhancerOptions)],
  snrDb: [fc.tuple(f32, f32)],
  siSdrDb: [fc.tuple(f32, f32)],
  writeWav: [fc.tuple(maybe(fc.oneof(relative, fc.constantFrom('adir', '/proc/x/y.wav', 'fifo.wav', '/nonexistent/x.wav'))), f32, int(-1, 48_000))],
  readRavdess: [fc.tuple(path, options({ emotions: maybe(fc.array(fc.constantFrom('happy', 'sad', 'x'), { maxLength: 3 })) }))],
  readIemocap: [fc.tuple(path, options({ labels: maybe(fc.constantFrom({ ang: 'angry' }, { x: 1 })) }))],
  readEsc50: [fc.tuple(path, options({ folds: maybe(fc.array(int(0, 6), { maxLength: 3 })) }))],
  readMusanNoise: [fc.tuple(path)],
  readNoiseFolder: [fc.tuple(path, maybe(fc.string({ maxLength: 5 })))],
  losoFolds: [fc.tuple(maybe(fc.array(corpusUtterance, { maxLength: 30 })))],
  select: [fc.tuple(maybe(fc.array(corpusUtterance, { maxLength: 10 })), maybe(fc.array(maybe(fc.constantFrom('a', 'b')), { maxLength: 3 })))],
  buildFeatureSet: [
    fc.tuple(
      maybe(
        fc
          .array(utterance, { maxLength: 4 })
          .map((us) => us.map((u, i) => (u && typeof u === 'object' && typeof u.id === 'string' ? { ...u, id: `${u.id}#${i}` } : u))),
      ),
      options({
        noises: maybe(fc.oneof(fc.constant([noise]), fc.array(path, { maxLength: 2 }))),
        noisy: choice('none', 'one-per-utterance', 'one-per-snr'),
        includeClean: maybe(fc.boolean()),
        snrsDb: maybe(fc.array(number, { maxLength: 3 })),
        seed: int(-1, 3),
        frames: int(-1, 3000),
        pad: choice('zero', 'repeat'),
        fbank: fbankOptions,
        enhancer: enhancerOptions,
      }),
      job,
    ),
    30,
  ],
  openFeatureSet: [
    fc.tuple(maybe(fc.oneof(path, fc.constant(setA.storePath ?? 'adir'))), maybe(fc.constantFrom(SIGNAL, {}, { signal: 1 }, { onProgress: () => {} }))),
  ],
  train: [fc.tuple(trainOptions(true), job), 20],
  resumeTraining: [fc.tuple(trainOptions(false), job), 20],
  evaluate: [fc.tuple(fc.oneof(fc.constant(run0.bestDir), path), set, options({ device: choice('cpu', 'cuda'), embeddings: fc.boolean() }), job), 20],
  trainModel: [fc.tuple(trainOptions(true), job), 20],
  resolveConfig: [fc.tuple(experimentConfig)],
  listTasks: [fc.tuple(experimentConfig), 30],
  describeTasks: [fc.tuple(experimentConfig, job), 15],
  runExperiment: [fc.tuple(experimentConfig, job), 15],
  runExperimentTask: [fc.tuple(experimentConfig, int(-1, 20), job), 15],
  openExperiment: [fc.tuple(path)],
  report: [fc.tuple(path)],
  metricsFromPredictions: [fc.tuple(path)],
  readEmodb: [fc.tuple(path, options({ emotions: maybe(fc.array(fc.constantFrom('happy', 'sad', 'x'), { maxLength: 3 })) }))],
  readCremaD: [fc.tuple(path, options({ emotions: maybe(fc.array(fc.constantFrom('happy', 'sad', 'x'), { maxLength: 3 })) }))],
  readManifest: [fc.tuple(path, options({ emotions: maybe(fc.array(fc.constantFrom('happy', 'sad', 'x'), { maxLength: 3 })) }))],
  isTrnetError: [fc.tuple(junk, junk)],
  isAbortError: [fc.tuple(junk)],
  load: [
    fc.tuple(
      maybe(fc.oneof({ weight: 2, arbitrary: fc.constantFrom(run0.bestDir, 'run0', 'adir') }, { weight: 1, arbitrary: path })),
      fc.oneof(
        { weight: 2, arbitrary: fc.constant({ classes: ['a', 'b', 'c', 'd'], features: { frames: 20 }, enhancer: {} }) },
        { weight: 3, arbitrary: loadOptions },
      ),
    ),
    30,
  ],
  'Model#predict': [fc.tuple(predictInput, options({ embedding: maybe(fc.boolean()) })), 30],
  'Model#predictBatch': [fc.tuple(maybe(fc.array(predictInput, { maxLength: 4 })), options({ embedding: maybe(fc.boolean()) })), 30],
  'Model#frames': [fc.tuple(predictInput), 20],
  // Output paths inside the fuzzing folder only (never the shared audio files `path` can name): relative names,
  // a missing folder, the folder itself, or junk.
  'Model#exportOnnx': [
    fc.tuple(
      maybe(
        fc.oneof(
          relative.map((r) => `${r}.onnx`),
          fc.constantFrom(join(work, 'no-such', 'm.onnx'), work, ''),
        ),
      ),
    ),
    10,
  ],
  'Model#timeline': [fc.tuple(predictInput, timelineOptions), 30],
  'OnnxSession.load': [fc.tuple(path, options({ intraThreads: int(-1, 4) }))],
  'OnnxSession#run': [fc.tuple(maybe(fc.array(tensor, { maxLength: 3 })))],
  'FeatureSet#subset': [fc.tuple(set, maybe(fc.array(int(-1, 5), { maxLength: 6 })))],
  'FeatureSet#classCounts': [fc.tuple(set, int(-1, 10))],
  'FeatureSet#speakers': [fc.tuple(set)],
};
let session;
const target = (name) => {
  if (name === 'OnnxSession.load') return (...a) => t.OnnxSession.load(...a);
  if (name === 'OnnxSession#run') {
    return (...a) => {
      session ??= t.OnnxSession.load(gtcrn);
      return session.run(...a);
    };
  }
  if (name === 'Model#predict') return (...a) => model0.predict(...a);
  if (name === 'Model#predictBatch') return (...a) => model0.predictBatch(...a);
  if (name === 'Model#frames') return (...a) => model0.frames(...a);
  if (name === 'Model#exportOnnx') return (...a) => model0.exportOnnx(...a);
  if (name === 'Model#timeline') return (...a) => model0.timeline(...a);
  if (name.startsWith('FeatureSet#')) {
    const m = name.slice('FeatureSet#'.length);
    return (self, ...a) => setA[m].call(self, ...a);
  }
  return t[name];
};

// Every exported function is in the table (a new export without fuzzing fails here).
const exported = Object.entries(t)
  .filter(([, v]) => typeof v === 'function')
  .map(([k]) => k);
const missing = exported.filter((k) => !(k in api));

// TRNET_PANIC is coded, but a caught panic is still a bug: it fails the property too.
const isCoded = (e) =>
  e instanceof Error &&
  ((typeof e.code === 'string' && /^TRNET_[A-Z_]+$/.test(e.code) && e.code !== 'TRNET_PANIC') || e.code === 'ABORT_ERR' || e.name === 'AbortError');
const show = (v) => {
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Float32Array) return `Float32Array(${v.length})`;
  try {
    return (
      JSON.stringify(v, (_, x) =>
        typeof x === 'bigint'
          ? `${x}n`
          : x instanceof Float32Array
            ? `Float32Array(${x.length})`
            : typeof x === 'number' && !Number.isFinite(x)
              ? String(x)
              : x,
      )?.slice(0, 300) ?? String(v)
    );
  } catch {
    return String(v);
  }
};

const failures = [];
const counts = {};
/** Calls that returned or resolved: the share of calls well-formed enough to do real work. */
const succeeded = {};
let slowest = { name: '', ms: 0 };

/** Calls one function once; returns a failure description or undefined. */
async function once(name, args) {
  const controller = new AbortController();
  const real = args.map((a) => (a === SIGNAL ? { signal: controller.signal } : a));
  // The call about to run, so that a hang or an abort (seen by the parent) names it in stderr's tail.
  process.stderr.write(`call ${name} ${args.map(show).join(', ').slice(0, 400)}\n`);
  const started = performance.now();
  let result;
  try {
    result = target(name)(...real);
  } catch (e) {
    const ms = performance.now() - started;
    if (ms > SYNC_LIMIT_MS) return `took ${ms.toFixed(0)} ms`;
    return isCoded(e) ? undefined : `threw an uncoded error: ${e?.name} ${e?.code ?? ''} ${e?.message ?? String(e)}`;
  }
  const syncMs = performance.now() - started;
  if (syncMs > SYNC_LIMIT_MS) return `took ${syncMs.toFixed(0)} ms`;
  if (!(result instanceof Promise)) {
    succeeded[name] = (succeeded[name] ?? 0) + 1;
    return undefined;
  }
  const abort = setTimeout(() => controller.abort(), ABORT_AFTER_MS);
  let hang;
  const outcome = await Promise.race([
    result.then(
      () => {
        succeeded[name] = (succeeded[name] ?? 0) + 1;
      },
      (e) => (isCoded(e) ? undefined : `rejected with an uncoded error: ${e?.name} ${e?.code ?? ''} ${e?.message ?? String(e)}`),
    ),
    new Promise((r) => (hang = setTimeout(() => r(`did not settle within ${SETTLE_LIMIT_MS} ms (aborted after ${ABORT_AFTER_MS} ms)`), SETTLE_LIMIT_MS))),
  ]);
  clearTimeout(abort);
  clearTimeout(hang);
  const ms = performance.now() - started;
  if (ms > slowest.ms) slowest = { name, ms: Math.round(ms) };
  return outcome;
}

const deadline = performance.now() + budgetMs;
const names = Object.keys(api);
// Round-robin in small batches, so that every function gets runs even when the budget runs out.
for (let round = 0; performance.now() < deadline && round < 1000; round++) {
  for (const name of names) {
    if (performance.now() >= deadline) break;
    const [args, maxRounds = 1000] = api[name];
    if (round >= maxRounds) continue;
    const r = await fc.check(
      fc.asyncProperty(args, async (a) => {
        counts[name] = (counts[name] ?? 0) + 1;
        const why = await once(name, a);
        if (why) failures.push({ name, args: a.map(show), why });
        return why === undefined;
      }),
      { numRuns: 3, seed: seed + round * 1000 + names.indexOf(name), endOnFailure: true },
    );
    void r;
  }
}

rmSync(work, { recursive: true, force: true });
console.log(
  JSON.stringify({
    seed,
    exported,
    missing,
    counts,
    succeeded,
    calls: Object.values(counts).reduce((a, b) => a + b, 0),
    failures: failures.slice(0, 20),
    slowest,
  }),
);
process.exit(0);
