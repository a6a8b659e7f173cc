/**
 * Speech-enhancement benchmark: quality (SNR and SI-SDR against the clean reference) of every enhancer on the
 * VoiceBank+DEMAND samples (with CMGAN's own outputs as the reference line) and on RAVDESS speech mixed with
 * ESC-50 noise at 0/5/10/15/20 dB; and speed (real-time factor on one thread) of each enhancer, with the same
 * GTCRN model stepped frame by frame through onnxruntime-node from plain TypeScript as the baseline.
 * GTCRN runs twice: the published streaming export (one call per frame) and the whole-utterance export of the
 * same checkpoint (scripts/export-gtcrn-offline.sh, made here if missing; one call per utterance).
 *
 *   npx tsx bench/enhance.ts [--ravdess 20] [--repeats 3]     (--ravdess 0: no RAVDESS table)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { decodeAudio, type EnhancerOptions, enhanceBatch, enhancerInfo, GTCRN_STFT, istft, mixAtSnr, siSdrDb, snrDb, stft } from '../ts/index.js';
import { bestOf, ravdessFiles, repoRoot, sharedDir, table } from './lib/timing.js';

// Every timing below is on one thread: trnet's batches on one rayon worker (read when the pool starts, at the
// first batch), ONNX Runtime with one intra-op thread.
process.env.RAYON_NUM_THREADS = '1';
const { values } = parseArgs({ options: { ravdess: { type: 'string', default: '20' }, repeats: { type: 'string', default: '3' } } });
const gtcrnModel = join(sharedDir, 'models/gtcrn/gtcrn_simple.onnx');
const STREAM = 'GTCRN (DNS3 weights, streaming ONNX)';
const WHOLE = 'GTCRN (same weights, whole-utterance ONNX)';
const enhancers: [string, EnhancerOptions][] = [
  ['classical (MMSE-LSA + minimum statistics)', { kind: 'classical' }],
  [STREAM, { kind: 'gtcrn', model: gtcrnModel }],
];
try {
  const model = execFileSync('bash', [join(repoRoot, 'scripts/export-gtcrn-offline.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  enhancers.push([WHOLE, { kind: 'gtcrn', model }]);
} catch (err) {
  console.log(`(no whole-utterance GTCRN row: scripts/export-gtcrn-offline.sh failed: ${String(err)})`);
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function enhanceAll(waves: Float32Array[], options: EnhancerOptions): Promise<Float32Array[]> {
  const items = await enhanceBatch(waves, options);
  return items.map((item, i) => {
    if (!item.samples) throw new Error(`item ${i}: ${item.error?.code} ${item.error?.message}`);
    return item.samples;
  });
}

// --- Quality on VoiceBank+DEMAND samples --------------------------------------------------------------
const vb = join(sharedDir, 'data/voicebank-samples');
const names = readdirSync(join(vb, 'clean'))
  .filter((f) => f.endsWith('.flac'))
  .sort();
const clean = names.map((n) => decodeAudio(join(vb, 'clean', n)).samples);
const noisy = names.map((n) => decodeAudio(join(vb, 'noisy', n)).samples);
const cmgan = names.map((n) => decodeAudio(join(vb, 'cmgan', n)).samples);
// CMGAN's stored outputs can differ in length by a few samples; compare over the common part.
const score = (ref: Float32Array[], est: Float32Array[]) => {
  const pairs = ref.map((r, i) => {
    const n = Math.min(r.length, est[i]!.length);
    return [r.subarray(0, n), est[i]!.subarray(0, n)] as const;
  });
  return { snr: mean(pairs.map(([r, e]) => snrDb(r, e))), sisdr: mean(pairs.map(([r, e]) => siSdrDb(r, e))) };
};
const vbRows: (string | number)[][] = [['VoiceBank+DEMAND, 25 utterances', 'SNR dB', 'SI-SDR dB', 'SNR gap to CMGAN']];
const cm = score(clean, cmgan);
const row = (name: string, s: { snr: number; sisdr: number }) => [name, s.snr.toFixed(2), s.sisdr.toFixed(2), (cm.snr - s.snr).toFixed(2)];
vbRows.push(row('noisy input', score(clean, noisy)));
for (const [name, options] of enhancers) vbRows.push(row(name, score(clean, await enhanceAll(noisy, options))));
vbRows.push(row('CMGAN (authors’ outputs, reference line)', cm));
console.log(table(vbRows));

// --- Quality on RAVDESS + ESC-50 at five SNRs ---------------------------------------------------------
// --ravdess 0 skips it (e.g. to rerun only the speed table).
if (Number(values.ravdess) > 0) {
  const speech = ravdessFiles(Number(values.ravdess)).map((f) => decodeAudio(f).samples);
  const esc = readdirSync(join(sharedDir, 'data/esc50/audio'))
    .filter((f) => f.endsWith('.flac'))
    .sort();
  const noises = speech.map((_, i) => decodeAudio(join(sharedDir, 'data/esc50/audio', esc[(i * 37) % esc.length]!)).samples);
  const rvRows: (string | number)[][] = [['RAVDESS + ESC-50: mean gain (dB)', ...[0, 5, 10, 15, 20].map((s) => `${s} dB SNR / SI-SDR`)]];
  const gains: Record<string, string[]> = Object.fromEntries(enhancers.map(([n]) => [n, []]));
  for (const snr of [0, 5, 10, 15, 20]) {
    const mixed = speech.map((s, i) => mixAtSnr(s, noises[i]!, snr, 1000 + i).noisy);
    const before = score(speech, mixed);
    for (const [name, options] of enhancers) {
      const after = score(speech, await enhanceAll(mixed, options));
      gains[name]!.push(`${(after.snr - before.snr).toFixed(2)} / ${(after.sisdr - before.sisdr).toFixed(2)}`);
    }
  }
  for (const [name] of enhancers) rvRows.push([name, ...gains[name]!]);
  console.log(`\n${table(rvRows)}`);
}

// --- Speed: real-time factor on one thread ------------------------------------------------------------
// RAYON_NUM_THREADS=1 (set at the top) keeps each batch on one worker, intraThreads 1 keeps ONNX Runtime on it.
// Per enhancer: one enhanceBatch call per utterance (each call loads the model: 0.05–0.2 s for an ONNX session),
// one call for all ten (one load, then every utterance on the same enhancer), the load alone (enhancerInfo, which
// builds the enhancer), and from those the enhancement alone, as the baseline is timed (its session is made before
// its timing starts).
const repeats = Number(values.repeats);
const audio = noisy.slice(0, 10);
const seconds = audio.reduce((s, w) => s + w.length, 0) / 16_000;
const speed: (string | number)[][] = [
  [
    `one thread, 10 VoiceBank utterances (${seconds.toFixed(1)} s)`,
    'RTF, a call each',
    'RTF, one call',
    'load s',
    'RTF without load',
    'speed vs onnxruntime-node',
  ],
];
const perCall: Record<string, number> = {};
const oneCall: Record<string, number> = {};
const load: Record<string, number> = {};
const rtf: Record<string, number> = {};
for (const [name, options] of enhancers) {
  const opts = { ...options, intraThreads: 1 };
  perCall[name] =
    (await bestOf(repeats, async () => {
      for (const w of audio) await enhanceAll([w], opts);
    })) / seconds;
  oneCall[name] = (await bestOf(repeats, () => enhanceAll(audio, opts))) / seconds;
  load[name] = await bestOf(repeats, () => enhancerInfo(opts));
  rtf[name] = oneCall[name]! - load[name]! / seconds;
}

/** The baseline: GTCRN stepped frame by frame through onnxruntime-node (STFT/iSTFT by trnet, as for trnet). */
const session = await ort.InferenceSession.create(gtcrnModel, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const cacheShapes: Record<string, number[]> = { conv_cache: [2, 1, 16, 16, 33], tra_cache: [2, 3, 1, 1, 16], inter_cache: [2, 1, 33, 16] };
async function gtcrnOrtNode(wave: Float32Array): Promise<Float32Array> {
  const spec = stft(wave, GTCRN_STFT);
  const out = new Float32Array(spec.data.length);
  let caches: Record<string, ort.Tensor> = Object.fromEntries(
    Object.entries(cacheShapes).map(([k, d]) => [k, new ort.Tensor('float32', new Float32Array(d.reduce((a, b) => a * b, 1)), d)]),
  );
  const mix = new Float32Array(257 * 2);
  for (let t = 0; t < spec.frames; t++) {
    mix.set(spec.data.subarray(t * 514, (t + 1) * 514));
    const r = await session.run({ mix: new ort.Tensor('float32', mix, [1, 257, 1, 2]), ...caches });
    out.set(r.enh!.data as Float32Array, t * 514);
    caches = { conv_cache: r.conv_cache_out!, tra_cache: r.tra_cache_out!, inter_cache: r.inter_cache_out! };
  }
  return istft({ frames: spec.frames, bins: spec.bins, data: out }, GTCRN_STFT, wave.length);
}
const baseline =
  (await bestOf(repeats, async () => {
    for (const w of audio) await gtcrnOrtNode(w);
  })) / seconds;
// The baseline must compute the same thing, or its timing means nothing.
const [ours] = await enhanceAll([audio[0]!], { kind: 'gtcrn', model: gtcrnModel });
const theirs = await gtcrnOrtNode(audio[0]!);
const sameness = siSdrDb(theirs, ours!);
for (const [name] of enhancers) {
  speed.push([name, perCall[name]!.toFixed(4), oneCall[name]!.toFixed(4), load[name]!.toFixed(3), rtf[name]!.toFixed(4), (baseline / rtf[name]!).toFixed(2)]);
}
speed.push(['GTCRN through onnxruntime-node 1.30, plain TS loop', '', '', '', baseline.toFixed(4), '1.00']);
console.log(`\n${table(speed)}\n(trnet GTCRN vs the onnxruntime-node loop on one utterance: SI-SDR ${sameness.toFixed(1)} dB, i.e. the same output)`);
if (rtf[WHOLE] !== undefined) {
  const [whole] = await enhanceAll([audio[0]!], enhancers.find(([n]) => n === WHOLE)![1]);
  console.log(
    `(whole-utterance GTCRN without the load: ${(rtf[STREAM]! / rtf[WHOLE]!).toFixed(1)}× the streaming export's speed, ${(baseline / rtf[WHOLE]!).toFixed(1)}× the onnxruntime-node loop's; ` +
      `its output vs the streaming export's on one utterance: SI-SDR ${siSdrDb(ours!, whole!).toFixed(1)} dB)`,
  );
}
