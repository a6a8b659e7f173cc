/**
 * ONNX export (issue 13): a tiny real experiment on RAVDESS, each variant kind (x only, xe only, x and xe with c)
 * exported with `model.exportOnnx`, the graph run with onnxruntime-node on the frames of real audio padded as
 * the metadata says, and its probabilities and c compared with the native `predict` of the same audio. The
 * metadata is read back from the file with a protobuf reader of its own (onnxruntime-node does not expose it).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCommand } from '../ts/cli/export.js';
import { main } from '../ts/cli/main.js';
import { decodeAudio, type ExperimentConfig, fixLength, load, type Model, type PredictInput, readRavdess, train } from '../ts/index.js';
import { codeOf, sharedPath, tinyExperiment } from './shared.js';

const work = mkdtempSync(join(tmpdir(), 'trnet-onnx-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const outDir = join(work, 'exp');
const config: ExperimentConfig = tinyExperiment(outDir, undefined, {
  noise: { matched: { reader: 'esc50', path: sharedPath('data/esc50'), folds: [4], limit: 40 }, unmatched: null },
  folds: { limit: 1 },
  snrsDb: [10],
  variants: ['baseline-c', 'baseline-e', 'trnet'],
  training: { epochs: 1, batchSize: 32 },
});

/** The metadata_props (field 14 of ModelProto, StringStringEntryProto {1: key, 2: value}) of an ONNX file. */
function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const varint = (b: Uint8Array, at: { i: number }) => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = b[at.i++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return v;
    }
  };
  const fields = (b: Uint8Array) => {
    const out: [number, Uint8Array][] = [];
    const at = { i: 0 };
    while (at.i < b.length) {
      const key = Number(varint(b, at));
      const wire = key & 7;
      if (wire === 0) varint(b, at);
      else if (wire === 5) at.i += 4;
      else if (wire === 1) at.i += 8;
      else if (wire === 2) {
        const n = Number(varint(b, at));
        out.push([key >> 3, b.subarray(at.i, at.i + n)]);
        at.i += n;
      } else throw new Error(`wire type ${wire}`);
    }
    return out;
  };
  const text = new TextDecoder();
  const meta: Record<string, string> = {};
  for (const [field, entry] of fields(bytes)) {
    if (field !== 14) continue;
    const kv = Object.fromEntries(fields(entry).map(([f, v]) => [f, text.decode(v)]));
    meta[kv[1]!] = kv[2] ?? '';
  }
  return meta;
}

/** Runs the exported graph on `inputs` exactly as another runtime would: frames → pad/cut → feeds. */
async function runGraph(file: string, model: Model, inputs: PredictInput[], names: string[]) {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  const { frames, pad } = model.features;
  const bins = model.nMels;
  const x = new Float32Array(inputs.length * frames * bins);
  const xe = new Float32Array(inputs.length * frames * bins);
  const valid = new Float32Array(inputs.length);
  for (const [i, input] of inputs.entries()) {
    const f = await model.frames(input);
    const fx = fixLength(f.x, bins, frames, pad);
    x.set(fx.data, i * frames * bins);
    valid[i] = fx.validFrames;
    if (f.xe) xe.set(fixLength(f.xe, bins, frames, pad).data, i * frames * bins);
  }
  const all: Record<string, ort.Tensor> = {
    x: new ort.Tensor('float32', x, [inputs.length, frames, bins]),
    xe: new ort.Tensor('float32', xe, [inputs.length, frames, bins]),
    valid_frames: new ort.Tensor('float32', valid, [inputs.length]),
  };
  expect(session.inputNames).toEqual(names);
  const out = await session.run(Object.fromEntries(names.map((n) => [n, all[n]!])));
  await session.release();
  return { probabilities: out.probabilities!.data as Float32Array, c: (out.c?.data as Float32Array | undefined) ?? null };
}

let taskDir: (variant: string) => string;
let inputs: PredictInput[];

describe('ONNX export of a trained model', () => {
  beforeAll(async () => {
    const result = await train(config);
    const fold = result.tasks[0]!.fold;
    taskDir = (variant) => join(outDir, 'tasks', fold, 'seed-5', variant);
    const files = readRavdess(sharedPath('data/ravdess'))
      .slice(0, 40)
      .filter((_, i) => i % 10 === 3)
      .map((u) => u.path);
    expect(files.length).toBe(4);
    // Three whole utterances (longer than the 100 frames: cut) and a 0.3 s clip (30 frames: padded).
    inputs = [...files.slice(0, 3), { samples: decodeAudio(files[3]!).samples.slice(8000, 12_800), sampleRate: 16_000 }];
  }, 600_000);

  for (const variant of ['baseline-c', 'baseline-e', 'trnet']) {
    it(`${variant}: onnxruntime-node on real audio gives predict's probabilities and c within 1e-4`, async () => {
      const model = await load(taskDir(variant));
      const out = join(work, `${variant}.onnx`);
      const written = await model.exportOnnx(out);
      expect(written.path).toBe(out);
      expect(written.bytes).toBe(readFileSync(out).length);
      const hasC = variant === 'trnet';
      expect(written.inputs).toEqual(
        variant === 'baseline-c' ? ['x', 'valid_frames'] : variant === 'baseline-e' ? ['xe', 'valid_frames'] : ['x', 'xe', 'valid_frames'],
      );
      expect(written.outputs).toEqual(hasC ? ['probabilities', 'c'] : ['probabilities']);

      const graph = await runGraph(out, model, inputs, written.inputs);
      const native = await model.predictBatch(inputs);
      const k = model.classes.length;
      let spread = 0;
      native.forEach((p, i) => {
        model.classes.forEach((name, j) => {
          expect(Math.abs(graph.probabilities[i * k + j]! - p.probabilities[name]!), `${variant} input ${i} ${name}`).toBeLessThan(1e-4);
          spread = Math.max(spread, Math.abs(p.probabilities[name]! - 1 / k));
        });
        if (hasC) {
          expect(p.c).not.toBeNull();
          expect(Math.abs(graph.c![i]! - p.c!), `${variant} input ${i} c`).toBeLessThan(1e-4);
        } else expect(graph.c).toBeNull();
      });
      // A trained model's probabilities are not all uniform: the comparison compares something.
      expect(spread).toBeGreaterThan(1e-3);

      const meta = onnxMetadata(readFileSync(out));
      expect(meta['trnet.variant']).toBe(variant);
      expect(meta['trnet.version']).toMatch(/^\d+\.\d+\.\d+/);
      expect(JSON.parse(meta['trnet.classes']!)).toEqual(['angry', 'happy', 'neutral', 'sad']);
      expect(JSON.parse(meta['trnet.features']!)).toMatchObject({ sampleRate: 16_000, frames: 100, pad: 'zero', waveformScale: 1, bins: model.nMels });
      expect(JSON.parse(meta['trnet.fbank']!)).toMatchObject({
        numMelBins: 80,
        frameLength: 25,
        frameShift: 10,
        dither: 0,
        windowType: 'povey',
        snipEdges: true,
      });
      const recorded = JSON.parse(readFileSync(join(outDir, 'enhancer.json'), 'utf8'));
      expect(JSON.parse(meta['trnet.enhancer']!)).toMatchObject({ kind: recorded.kind, fingerprint: recorded.fingerprint, modelSha256: recorded.modelSha256 });
      expect(JSON.parse(meta['trnet.modelConfig']!)).toMatchObject({ variant, nMels: model.nMels, channels: [8, 8, 16, 16] });
      expect(meta['trnet.inputs']).toBe(written.inputs.join(','));
      expect(meta['trnet.pipeline']).toMatch(/valid_frames/);
      expect(written.metadata['trnet.classes']).toBe(meta['trnet.classes']);
      model.close();
    }, 120_000);
  }

  it('the CLI writes the file and reports it; usage and path errors are coded', async () => {
    const out = join(work, 'cli', 'model.onnx');
    mkdirSync(join(work, 'cli'));
    const lines: string[] = [];
    const sink = { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream;
    expect(await exportCommand(taskDir('trnet'), { onnx: out, json: true, allowDifferentEnhancer: false }, sink)).toBe(0);
    const report = JSON.parse(lines.join(''));
    expect(report).toMatchObject({ path: out, variant: 'trnet', inputs: ['x', 'xe', 'valid_frames'], outputs: ['probabilities', 'c'] });
    expect(report.bytes).toBe(readFileSync(out).length);
    // The same model and settings give the same bytes (metadata in a fixed order).
    const again = join(work, 'cli', 'again.onnx');
    const model = await load(taskDir('trnet'));
    await model.exportOnnx(again);
    expect(readFileSync(again).equals(readFileSync(out))).toBe(true);

    const err: string[] = [];
    const errSink = { write: (s: string) => err.push(s) } as unknown as NodeJS.WritableStream;
    expect(await main(['export', taskDir('trnet')], errSink)).toBe(2);
    expect(err.join('')).toMatch(/--onnx/);
    expect(await main(['export', '--onnx', out], errSink)).toBe(2);

    // A folder that does not exist, a folder where the file should go, a path that is not a string.
    expect(await codeOf(model.exportOnnx(join(work, 'no-such-folder', 'm.onnx')))).toBe('TRNET_IO');
    expect(await codeOf(model.exportOnnx(join(work, 'cli')))).toBe('TRNET_IO');
    expect(await codeOf(model.exportOnnx(42 as never))).toBe('TRNET_INVALID_ARGUMENT');
    model.close();
    expect(await codeOf(model.exportOnnx(join(work, 'closed.onnx')))).toBe('TRNET_MODEL_CLOSED');
    expect(await codeOf(model.frames(inputs[0]!))).toBe('TRNET_MODEL_CLOSED');
  }, 120_000);

  it('frames() applies the waveform scale the model was trained with', async () => {
    const bare = join(taskDir('baseline-c'), 'run', 'best');
    const settings = { classes: ['angry', 'happy', 'neutral', 'sad'], enhancer: { kind: 'classical' as const } };
    const plain = await load(bare, { ...settings, features: { frames: 100 } });
    const int16 = await load(bare, { ...settings, features: { frames: 100, waveformScale: 32768 } });
    const [a, b] = [await plain.frames(inputs[0]!), await int16.frames(inputs[0]!)];
    expect(b.frames).toBe(a.frames);
    expect(a.xe).toBeNull();
    // Scaling the wave by s multiplies every mel energy by s², so log-Mel values above the floor ln ε ≈ −15.942
    // (ε: float32's epsilon; digital silence sits there) move by exactly 2·ln s, and floored ones by less.
    const shift = 2 * Math.log(32768);
    const pairs = Array.from(a.x, (v, i) => [v, b.x[i]! - v] as const);
    const above = pairs.filter(([v]) => v > -15.94);
    expect(above.length).toBeGreaterThan(a.x.length / 4);
    for (const [, d] of above) expect(d).toBeCloseTo(shift, 2);
    for (const [, d] of pairs) expect(d).toBeLessThan(shift + 1e-2);
    plain.close();
    int16.close();
  });
});
