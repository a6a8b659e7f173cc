/**
 * Inference benchmark (issue 13): `model.predict` on 5-s clips end to end — decode → SE (the whole-utterance
 * GTCRN ONNX) → fbank of the input and of the SE output → TRNet forward — on one CPU thread (latency per clip,
 * and where the time goes) and on all cores (`predictBatch` throughput), against the same pipeline in Python
 * (bench/reference/predict_pipeline.py: soundfile decode, the same ONNX through onnxruntime, torchaudio's
 * kaldi.fbank, the same network with the same weights in PyTorch eager), measured in the same run.
 *
 *   npx tsx bench/predict.ts [--clips 8] [--repeats 5] [--rounds 2] [--batch 32] [--model <task or checkpoint folder>] [--trnet-only]
 *                            [--ort-gru] [--no-rewrites] [--libtorch-conv] [--precision fp32|bf16]
 *
 * `--ort-gru` adds a one-thread trnet configuration with TRNET_FAST_GRU=0 (the SE's GRU nodes on ONNX Runtime's
 * own kernel instead of trnet's FastGRU operator), interleaved with the others: the before/after of that operator
 * in one run. `--no-rewrites` likewise adds one with TRNET_GRAPH_REWRITES=0 (the SE graph as exported, without
 * trnet's in-memory rewrites of it, crates/trnet-enhance/src/onnx_fuse.rs), and `--libtorch-conv` one with
 * TRNET_DIRECT_CONV=0 (the forward pass's convs on libtorch instead of trnet's one-thread AVX-512 kernel).
 * `--precision bf16` loads trnet's model with bf16 convolutions (load's `precision`; needs AVX-512 BF16); the
 * Python pipeline stays fp32, so the "same predictions" lines then show bf16's difference from fp32.
 * The model: `--model` (an experiment task folder, or a checkpoint folder trained with the whole-utterance
 * GTCRN), else a paper-size TRNet (80 bins, 500 frames, channels 32/64/128/256) trained for one epoch on 32
 * RAVDESS utterances with that SE front end, made once into $TRNET_CACHE/bench-predict-v1 (~1 min): the timing
 * does not depend on how well it is trained, and its weights are real ones both sides load.
 * The clips: 5.00 s of RAVDESS speech (two utterances of actors the model never saw, joined and cut), written as
 * 16-bit 16 kHz WAV files that both sides decode.
 *
 * Each configuration runs in a process of its own, one after another, `--rounds` times interleaved (on a shared
 * machine the load changes between processes): trnet and Python on one thread
 * (OMP_NUM_THREADS, MKL_NUM_THREADS and RAYON_NUM_THREADS = 1 at process start; ONNX Runtime with one intra-op
 * thread on both sides; torch.set_num_threads(1)), then on all cores (library defaults; Python's SE runs one clip
 * after another with all cores per clip, as a plain loop does). Python runs twice per thread setting: glibc
 * malloc as it comes, and with the MALLOC_* tuning bench/train.ts uses (PyTorch's best case). Latency: the
 * median (and best) over `--repeats` passes over the clips after two warm-up predictions, all rounds pooled
 * (stages: the median over rounds of each process's medians); CPU ms per clip is
 * process CPU time over the same passes (≈ wall time means one thread did the work). Stages come from
 * `Model.profile` (trnet) and the script's own clock (Python); each trnet stage includes its hop to a native
 * job thread and back, and "overhead" is the rest of the end-to-end time.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildFeatureSet, decodeAudio, info, load, type Model, type Precision, readRavdess, train } from '../ts/index.js';
import { devPython, repoRoot, sharedDir, table, wav16 } from './lib/timing.js';

const { values } = parseArgs({
  options: {
    clips: { type: 'string', default: '8' },
    repeats: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    batch: { type: 'string', default: '32' },
    model: { type: 'string' },
    // Skip the Python pipeline (a quick look at trnet alone).
    'trnet-only': { type: 'boolean', default: false },
    // Also run trnet on one thread with TRNET_FAST_GRU=0 (ONNX Runtime's own GRU kernel in the SE).
    'ort-gru': { type: 'boolean', default: false },
    // Also run trnet on one thread with TRNET_GRAPH_REWRITES=0 (the SE graph as exported).
    'no-rewrites': { type: 'boolean', default: false },
    // Also run trnet on one thread with TRNET_DIRECT_CONV=0 (the forward pass's convs on libtorch).
    'libtorch-conv': { type: 'boolean', default: false },
    precision: { type: 'string', default: 'fp32' },
    // Internal: run one trnet configuration and print its JSON (the parent sets the thread variables).
    worker: { type: 'string' },
  },
});
const CLASSES = ['angry', 'happy', 'neutral', 'sad'];
const CLIP_SECONDS = 5;
const RATE = 16_000;

interface Spec {
  model: string;
  /** Load options for a bare checkpoint; absent for an experiment task folder. */
  settings?: { classes: string[]; features: { frames: number }; enhancer: { kind: string; model: string } };
  clips: string[];
  batch: string[];
  repeats: number;
  warmup: number;
  precision: Precision;
}

type Stages = Record<'decode' | 'enhance' | 'fbank' | 'forward' | 'overhead' | 'total', number>;

interface Measured {
  impl: string;
  threads: number;
  latency_ms: number[];
  cpu_ms: number[];
  /** Minor page faults of the process per prediction (memory faulted in afresh). */
  faults: number[];
  /** Load, and the first prediction after it (cold), wall ms. */
  load_ms: number;
  first_ms: number;
  /** The first prediction's stages (wall and process CPU ms). */
  first_stages_ms: Stages;
  first_stages_cpu_ms: Stages;
  /** Per-stage medians over the timed runs, wall and process CPU ms. */
  stages_ms: Stages;
  stages_cpu_ms: Stages;
  batch_s: number[];
  probs: number[][];
  c: (number | null)[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Several rounds of one configuration as one: timings pooled, per-process medians and cold starts by their median. */
function merge(ms: Measured[]): Measured {
  const pooled = (k: 'latency_ms' | 'cpu_ms' | 'faults' | 'batch_s') => ms.flatMap((m) => m[k]);
  const stages = (k: 'stages_ms' | 'stages_cpu_ms' | 'first_stages_ms' | 'first_stages_cpu_ms') =>
    Object.fromEntries(Object.keys(ms[0]![k]).map((s) => [s, median(ms.map((m) => m[k][s as keyof Stages]))])) as Stages;
  return {
    ...ms[0]!,
    latency_ms: pooled('latency_ms'),
    cpu_ms: pooled('cpu_ms'),
    faults: pooled('faults'),
    batch_s: pooled('batch_s'),
    load_ms: median(ms.map((m) => m.load_ms)),
    first_ms: median(ms.map((m) => m.first_ms)),
    stages_ms: stages('stages_ms'),
    stages_cpu_ms: stages('stages_cpu_ms'),
    first_stages_ms: stages('first_stages_ms'),
    first_stages_cpu_ms: stages('first_stages_cpu_ms'),
  };
}

/** One trnet configuration, in this (child) process: the same measurements as predict_pipeline.py. */
async function worker(spec: Spec): Promise<Measured> {
  const t0 = performance.now();
  const model: Model = await load(spec.model, { ...spec.settings, precision: spec.precision });
  const loadMs = performance.now() - t0;
  const { ms: first, cpu: firstCpu } = await model.profile([spec.clips[0]!]);
  const withOverhead = (t: typeof first): Stages => ({ ...t, overhead: t.total - t.decode - t.enhance - t.fbank - t.forward });
  for (let i = 1; i < spec.warmup; i++) await model.predict(spec.clips[0]!);
  const latency: number[] = [];
  const cpu: number[] = [];
  const faults: number[] = [];
  for (let r = 0; r < spec.repeats; r++) {
    for (const clip of spec.clips) {
      const f0 = process.resourceUsage().minorPageFault;
      const c0 = cpuMs();
      const t0 = performance.now();
      await model.predict(clip);
      latency.push(performance.now() - t0);
      cpu.push(cpuMs() - c0);
      faults.push(process.resourceUsage().minorPageFault - f0);
    }
  }
  const names = ['decode', 'enhance', 'fbank', 'forward', 'overhead', 'total'] as const;
  const stages = { ms: names.map(() => [] as number[]), cpu: names.map(() => [] as number[]) };
  for (let r = 0; r < spec.repeats; r++) {
    for (const clip of spec.clips) {
      const p = await model.profile([clip]);
      for (const k of ['ms', 'cpu'] as const) {
        const t = p[k];
        const overhead = t.total - t.decode - t.enhance - t.fbank - t.forward;
        for (const [i, n] of names.entries()) stages[k][i]!.push(n === 'overhead' ? overhead : t[n]);
      }
    }
  }
  const medians = (xs: number[][]) => Object.fromEntries(names.map((n, i) => [n, median(xs[i]!)])) as Stages;
  const batch: number[] = [];
  for (let r = 0; r < Math.max(1, spec.repeats >> 1) && spec.batch.length > 0; r++) {
    const t0 = performance.now();
    await model.predictBatch(spec.batch);
    batch.push((performance.now() - t0) / 1000);
  }
  const outputs = await model.predictBatch(spec.clips);
  model.close();
  const i = info();
  return {
    impl: `trnet ${i.trnetVersion} (libtorch ${i.libtorchVersion}, onnxruntime ${i.onnxruntimeVersion})`,
    threads: i.torchIntraOpThreads,
    latency_ms: latency,
    cpu_ms: cpu,
    faults,
    load_ms: loadMs,
    first_ms: first.total,
    first_stages_ms: withOverhead(first),
    first_stages_cpu_ms: withOverhead(firstCpu),
    stages_ms: medians(stages.ms),
    stages_cpu_ms: medians(stages.cpu),
    batch_s: batch,
    probs: outputs.map((o) => CLASSES.map((k) => o.probabilities[k]!)),
    c: outputs.map((o) => o.c),
  };
}

if (values.worker) {
  const spec = JSON.parse(values.worker) as Spec;
  process.stdout.write(`${JSON.stringify(await worker(spec))}\n`);
  process.exit(0);
}

// --- The parent: model, clips, then every configuration in its own process -----------------------------------
const cacheDir = execFileSync('bash', ['-c', 'source scripts/env.sh && echo "$TRNET_CACHE"'], { cwd: repoRoot, encoding: 'utf8' }).trim();
const gtcrn = execFileSync('bash', [join(repoRoot, 'scripts/export-gtcrn-offline.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  .trim()
  .split('\n')
  .pop()!;
const ravdess = readRavdess(join(sharedDir, 'data/ravdess'), { emotions: CLASSES });

/** A paper-size TRNet trained for one epoch with the whole-utterance GTCRN, made once (see the header). */
async function benchModel(): Promise<string> {
  const dir = join(cacheDir, 'bench-predict-v1');
  const best = join(dir, 'trnet', 'best');
  if (existsSync(join(best, 'model.safetensors'))) return best;
  console.log(`making the bench model in ${dir} (once) …`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const spec = (u: (typeof ravdess)[number]) => ({ path: u.path, label: CLASSES.indexOf(u.emotion), speaker: u.speaker, id: u.id });
  const options = { noisy: 'none' as const, frames: 500, enhancer: { kind: 'gtcrn', model: gtcrn } };
  const trainSet = await buildFeatureSet(
    ravdess
      .filter((u) => u.speaker === 'Actor_01')
      .slice(0, 32)
      .map(spec),
    options,
  );
  const valSet = await buildFeatureSet(
    ravdess
      .filter((u) => u.speaker === 'Actor_02')
      .slice(0, 8)
      .map(spec),
    options,
  );
  const trainConfig = { epochs: 1, device: 'cpu', seed: 1 };
  await train({ modelConfig: { variant: 'baseline-c' }, trainConfig, trainSet, valSet, outDir: join(dir, 'baseline-c') });
  await train({ modelConfig: { variant: 'trnet' }, trainConfig, trainSet, valSet, reference: join(dir, 'baseline-c', 'best'), outDir: join(dir, 'trnet') });
  return best;
}

const work = mkdtempSync(join(tmpdir(), 'trnet-bench-predict-'));
try {
  const modelDir = values.model ?? (await benchModel());
  const probe = await load(modelDir, values.model ? {} : { classes: CLASSES, features: { frames: 500 }, enhancer: { kind: 'gtcrn', model: gtcrn } });
  const settings = values.model ? undefined : { classes: CLASSES, features: { frames: 500 }, enhancer: { kind: 'gtcrn', model: gtcrn } };
  const frames = probe.features.frames;
  const onnx = probe.enhancer.model;
  const checkpoint = probe.dir;
  const variant = probe.variant;
  probe.close();
  if (!onnx) throw new Error(`${modelDir}: its SE front end is ${probe.enhancer.kind ?? 'classical'}; the bench compares the GTCRN pipeline`);

  // 5-s clips of speakers the bench model did not see: two utterances joined, cut to 5.00 s.
  const speech = ravdess.filter((u) => u.speaker >= 'Actor_05');
  const clipCount = Number(values.clips);
  const clips = Array.from({ length: clipCount }, (_, i) => {
    const a = decodeAudio(speech[(i * 7) % speech.length]!.path).samples;
    const b = decodeAudio(speech[(i * 7 + 3) % speech.length]!.path).samples;
    const joined = new Float32Array(CLIP_SECONDS * RATE);
    joined.set(a.subarray(0, joined.length));
    if (a.length < joined.length) joined.set(b.subarray(0, joined.length - a.length), a.length);
    const file = join(work, `clip-${i}.wav`);
    writeFileSync(file, wav16(joined, RATE));
    return file;
  });
  const batch = Array.from({ length: Number(values.batch) }, (_, i) => clips[i % clips.length]!);
  const repeats = Number(values.repeats);
  const precision = values.precision as Precision;
  if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`--precision: expected fp32 or bf16, found ${precision}`);
  const spec: Spec = { model: modelDir, ...(settings ? { settings } : {}), clips, batch, repeats, warmup: 2, precision };
  const cores = info().cpuCount;
  const ONE = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', RAYON_NUM_THREADS: '1' };
  const TUNED = { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };

  const runJson = (cmd: string, args: string[], env: Record<string, string>): Measured => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} … exited with ${r.status}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measured;
  };
  const self = fileURLToPath(import.meta.url);
  // On all cores the measure is the batch; the one-clip latency there gets two passes (and the batch one run a
  // round), which keeps the run short where PyTorch's and ONNX Runtime's threads contend on a loaded machine.
  const passes = (threads: number) => (threads === 1 ? repeats : Math.min(repeats, 2));
  const trnet = (env: Record<string, string>) =>
    runJson(process.execPath, ['--import', 'tsx', self, '--worker', JSON.stringify({ ...spec, repeats: passes(env.OMP_NUM_THREADS ? 1 : cores) })], env);
  const { python, why } = values['trnet-only'] ? { python: undefined, why: '--trnet-only' } : devPython();
  const manifest = join(work, 'manifest.json');
  const pythonRun = (threads: number, env: Record<string, string>) => {
    writeFileSync(manifest, JSON.stringify({ clips, batch, checkpoint, onnx, frames, threads, repeats: passes(threads), warmup: 2 }));
    return runJson(python!, [join(repoRoot, 'bench/reference/predict_pipeline.py'), manifest], env);
  };

  console.log(
    `${variant} (${checkpoint}), ${frames} frames, trnet in ${precision}; SE ${onnx}\n${clipCount} clips of ${CLIP_SECONDS} s, ${repeats} passes; batch of ${batch.length} clips; ${cores} CPU(s), load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  const configs: [string, () => Measured][] = [['trnet, 1 thread', () => trnet(ONE)]];
  const ORT_GRU = 'trnet, 1 thread, ORT GRU (TRNET_FAST_GRU=0)';
  if (values['ort-gru']) configs.push([ORT_GRU, () => trnet({ ...ONE, TRNET_FAST_GRU: '0' })]);
  const NO_REWRITES = 'trnet, 1 thread, SE graph as exported (TRNET_GRAPH_REWRITES=0)';
  if (values['no-rewrites']) configs.push([NO_REWRITES, () => trnet({ ...ONE, TRNET_GRAPH_REWRITES: '0' })]);
  const LIBTORCH_CONV = 'trnet, 1 thread, libtorch convs (TRNET_DIRECT_CONV=0)';
  if (values['libtorch-conv']) configs.push([LIBTORCH_CONV, () => trnet({ ...ONE, TRNET_DIRECT_CONV: '0' })]);
  if (python) {
    configs.push(['Python, 1 thread', () => pythonRun(1, ONE)], ['Python, 1 thread, tuned malloc', () => pythonRun(1, { ...ONE, ...TUNED })]);
  } else {
    console.log(`Python pipeline unavailable (${why}); trnet alone.\n`);
  }
  configs.push([`trnet, ${cores} threads`, () => trnet({})]);
  if (python) configs.push([`Python, ${cores} threads`, () => pythonRun(cores, {})], [`Python, ${cores} threads, tuned malloc`, () => pythonRun(cores, TUNED)]);
  const runs = new Map<string, Measured[]>(configs.map(([n]) => [n, []]));
  for (let r = 0; r < Number(values.rounds); r++) for (const [name, run] of configs) runs.get(name)!.push(run());
  const merged = [...runs].map(([name, ms]) => [name, merge(ms)] as [string, Measured]);
  const rows = merged.filter(([n]) => n.includes(', 1 thread'));
  const all = merged.filter(([n]) => !n.includes(', 1 thread'));

  // The baselines must compute what trnet computes, or their timings mean nothing.
  const ours = rows[0]![1];
  for (const [name, m] of [...rows.slice(1), ...all.slice(1)]) {
    const dp = Math.max(...m.probs.flatMap((p, i) => p.map((v, k) => Math.abs(v - ours.probs[i]![k]!))));
    const dc = Math.max(...m.c.map((c, i) => (c === null || ours.c[i] === null ? 0 : Math.abs(c - ours.c[i]!))));
    console.log(`${name}: same predictions as trnet within ${dp.toExponential(1)} (probabilities), ${dc.toExponential(1)} (c)`);
  }

  const base = rows.find(([n]) => n === 'Python, 1 thread')?.[1];
  console.log(`\nOne thread, one ${CLIP_SECONDS}-s clip per call (ms)`);
  console.log(
    table([
      ['', 'median', 'best', 'CPU per clip', 'page faults per clip', 'speed vs Python', 'CPU vs Python'],
      ...rows.map(([name, m]) => [
        name,
        median(m.latency_ms).toFixed(1),
        Math.min(...m.latency_ms).toFixed(1),
        median(m.cpu_ms).toFixed(1),
        Math.round(median(m.faults)),
        base ? (median(base.latency_ms) / median(m.latency_ms)).toFixed(2) : 'n/a',
        base ? (median(base.cpu_ms) / median(m.cpu_ms)).toFixed(2) : 'n/a',
      ]),
    ]),
  );
  // Process CPU time is the steadier figure on a machine shared with other work (wall time includes waiting
  // for a core); with one thread working, the two agree on a quiet machine.
  console.log('\nWhere the time goes, one thread (median ms per clip: wall / process CPU)');
  const stageRow = (name: string, m: Measured) => {
    const cell = (k: keyof Stages) => `${m.stages_ms[k].toFixed(2)} / ${m.stages_cpu_ms[k].toFixed(2)}`;
    return [name, cell('decode'), cell('enhance'), cell('fbank'), cell('forward'), cell('overhead'), cell('total')];
  };
  console.log(table([['', 'decode', 'SE (GTCRN)', 'fbank ×2', 'forward', 'overhead', 'total'], ...rows.map(([n, m]) => stageRow(n, m))]));
  console.log('\nCold start, one thread: load (wall ms), then the first prediction and its stages (wall / process CPU ms)');
  const both = (m: Measured, k: keyof Stages) => `${m.first_stages_ms[k].toFixed(1)} / ${m.first_stages_cpu_ms[k].toFixed(1)}`;
  console.log(
    table([
      ['', 'load', 'first prediction', 'decode', 'SE', 'fbank', 'forward'],
      ...rows.map(([n, m]) => [n, m.load_ms.toFixed(0), ...(['total', 'decode', 'enhance', 'fbank', 'forward'] as const).map((k) => both(m, k))]),
    ]),
  );

  const allBase = all.find(([n]) => n === `Python, ${cores} threads`)?.[1];
  const perSecond = (m: Measured) => batch.length / Math.min(...m.batch_s);
  console.log(`\nAll cores: predictBatch of ${batch.length} clips (clips per second, best run)`);
  console.log(
    table([
      ['', 'clips/s', 'x real time', 'speed vs Python', 'latency of one clip, median ms'],
      ...all.map(([name, m]) => [
        name,
        perSecond(m).toFixed(1),
        Math.round(perSecond(m) * CLIP_SECONDS),
        allBase ? (perSecond(m) / perSecond(allBase)).toFixed(2) : 'n/a',
        median(m.latency_ms).toFixed(1),
      ]),
    ]),
  );
  const got = median(ours.latency_ms);
  console.log(
    `\nTarget ≤ 20 ms per ${CLIP_SECONDS}-s clip on one thread: ${got <= 20 ? 'met' : 'not met'} (${got.toFixed(1)} ms median wall, ${median(ours.cpu_ms).toFixed(1)} ms CPU; SE ${ours.stages_cpu_ms.enhance.toFixed(1)} ms CPU, forward ${ours.stages_cpu_ms.forward.toFixed(1)} ms CPU of it).` +
      (base ? ` Python pipeline: ${median(base.latency_ms).toFixed(1)} ms (${(median(base.latency_ms) / got).toFixed(2)}× trnet's time).` : ''),
  );
  const ortGru = rows.find(([n]) => n === ORT_GRU)?.[1];
  if (ortGru) {
    const se = (m: Measured) => m.stages_cpu_ms.enhance;
    console.log(
      `FastGRU: SE ${se(ours).toFixed(1)} ms CPU vs ${se(ortGru).toFixed(1)} ms with ONNX Runtime's GRU (${(se(ortGru) / se(ours)).toFixed(2)}×); ` +
        `end to end ${median(ours.cpu_ms).toFixed(1)} vs ${median(ortGru.cpu_ms).toFixed(1)} ms CPU per clip (${(median(ortGru.cpu_ms) / median(ours.cpu_ms)).toFixed(2)}×).`,
    );
  }
  const asExported = rows.find(([n]) => n === NO_REWRITES)?.[1];
  if (asExported) {
    const se = (m: Measured) => m.stages_cpu_ms.enhance;
    console.log(
      `SE graph rewrites: SE ${se(ours).toFixed(1)} ms CPU vs ${se(asExported).toFixed(1)} ms with the graph as exported (${(se(asExported) - se(ours)).toFixed(1)} ms less); ` +
        `end to end ${median(ours.cpu_ms).toFixed(1)} vs ${median(asExported.cpu_ms).toFixed(1)} ms CPU per clip.`,
    );
  }
  const libtorchConv = rows.find(([n]) => n === LIBTORCH_CONV)?.[1];
  if (libtorchConv) {
    const fwd = (m: Measured) => m.stages_cpu_ms.forward;
    console.log(
      `Direct conv kernel: forward ${fwd(ours).toFixed(1)} ms CPU vs ${fwd(libtorchConv).toFixed(1)} ms on libtorch's convs (${(fwd(libtorchConv) / fwd(ours)).toFixed(2)}×); ` +
        `end to end ${median(ours.cpu_ms).toFixed(1)} vs ${median(libtorchConv.cpu_ms).toFixed(1)} ms CPU per clip.`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
