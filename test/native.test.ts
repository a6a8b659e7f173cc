import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { info, isTrnetError, OnnxSession, softmax } from '../ts/index.js';
import { native } from '../ts/native.js';
import { sharedPath } from './shared.js';

describe('info()', () => {
  it('reports the pinned libtorch and ONNX Runtime actually loaded', () => {
    const i = info();
    expect(i.trnetVersion).toBe('0.1.0');
    expect(i.libtorchVersion).toMatch(/^2\.11\.0/);
    expect(i.onnxruntimeError).toBeUndefined();
    expect(i.onnxruntimeVersion).toMatch(/^1\.\d+\.\d+$/);
    // The version read from the library's build info agrees with the file loaded.
    expect(basename(i.onnxruntimeLibrary!)).toBe(`libonnxruntime.so.${i.onnxruntimeVersion}`);
    expect(i.cudaAvailable).toBe(i.cudaDeviceCount > 0);
    expect(i.torchIntraOpThreads).toBeGreaterThanOrEqual(1);
    expect(i.cpuCount).toBeGreaterThanOrEqual(1);
  });
});

describe('Float32Array → libtorch → Float32Array', () => {
  function reference(x: Float32Array, classes: number): number[] {
    const out: number[] = [];
    for (let r = 0; r < x.length / classes; r++) {
      const row = Array.from(x.subarray(r * classes, (r + 1) * classes));
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const z = e.reduce((a, b) => a + b, 0);
      out.push(...e.map((v) => v / z));
    }
    return out;
  }

  it('computes a row-wise softmax equal to a plain JS one, leaving the input untouched', () => {
    const x = new Float32Array(64 * 7).map((_, i) => Math.sin(i * 1.7) * 8);
    const before = x.slice();
    const y = softmax(x, 7);
    expect(y).toBeInstanceOf(Float32Array);
    expect(y.length).toBe(x.length);
    expect(y.buffer).not.toBe(x.buffer);
    const want = reference(x, 7);
    for (let i = 0; i < y.length; i++) expect(y[i]).toBeCloseTo(want[i]!, 6);
    expect(x).toEqual(before);
  });

  it('reads a view into a larger buffer at its offset', () => {
    const big = new Float32Array([9, 9, 0, 0, 1, 1, 9]);
    const y = softmax(big.subarray(2, 6), 2);
    expect(Array.from(y)).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it('rejects a ragged matrix with a coded error that says what was expected', () => {
    try {
      softmax(new Float32Array(5), 2);
      expect.unreachable();
    } catch (err) {
      expect(isTrnetError(err, 'TRNET_INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toMatch(/expected a length that is a multiple of the column count 2.*found 5 values/);
    }
  });
});

describe('OnnxSession on the real GTCRN export', () => {
  const caches = { conv_cache: [2, 1, 16, 16, 33], tra_cache: [2, 3, 1, 1, 16], inter_cache: [2, 1, 33, 16] };
  const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
  const frame = new Float32Array(257 * 2).map((_, i) => Math.sin(i * 0.37) / (1 + (i >> 1) * 0.05));
  const feeds = () => [
    { name: 'mix', dims: [1, 257, 1, 2], data: frame },
    ...Object.entries(caches).map(([name, dims]) => ({ name, dims, data: new Float32Array(size(dims)) })),
  ];

  it('declares the streaming interface and runs one step with the right output shapes', () => {
    const s = OnnxSession.load(sharedPath('models/gtcrn/gtcrn_simple.onnx'), { intraThreads: 1 });
    expect(s.intraThreads).toBe(1);
    expect(s.inputs.map((t) => [t.name, t.shape])).toEqual([['mix', [1, 257, 1, 2]], ...Object.entries(caches)]);
    const out = s.run(feeds());
    expect(out.map((t) => t.name)).toEqual(['enh', 'conv_cache_out', 'tra_cache_out', 'inter_cache_out']);
    expect(out.map((t) => t.dims)).toEqual([[1, 257, 1, 2], ...Object.values(caches)]);
    for (const t of out) {
      expect(t.data).toBeInstanceOf(Float32Array);
      expect(t.data.length).toBe(size(t.dims));
      expect(t.data.every(Number.isFinite)).toBe(true);
    }
    // A real mask was applied: the output differs from the input but is not silent.
    const enh = out[0]!.data;
    expect(enh.some((v, i) => Math.abs(v - frame[i]!) > 1e-4)).toBe(true);
    expect(enh.some((v) => v !== 0)).toBe(true);
  });

  it('gives the same step output from the simplified and the original export', () => {
    const a = OnnxSession.load(sharedPath('models/gtcrn/gtcrn_simple.onnx')).run(feeds())[0]!.data;
    const b = OnnxSession.load(sharedPath('models/gtcrn/gtcrn.onnx')).run(feeds())[0]!.data;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
  });

  it('names the expected and found inputs when they do not match', () => {
    const s = OnnxSession.load(sharedPath('models/gtcrn/gtcrn_simple.onnx'));
    const bad = feeds().map((f) => (f.name === 'mix' ? { ...f, name: 'noisy' } : f));
    expect(() => s.run(bad)).toThrow(/expected mix float32\[1, 257, 1, 2\].*found noisy float32\[1, 257, 1, 2\]/);
    try {
      s.run(bad);
    } catch (err) {
      expect(isTrnetError(err, 'TRNET_MODEL_INPUT')).toBe(true);
    }
  });

  it('reports a missing model file with its path and code', () => {
    try {
      OnnxSession.load('/no/such/model.onnx');
      expect.unreachable();
    } catch (err) {
      expect(isTrnetError(err, 'TRNET_MODEL_LOAD')).toBe(true);
      expect((err as Error).message).toContain('/no/such/model.onnx');
    }
  });
});

describe('panics', () => {
  it('become TRNET_PANIC Errors and leave the process working', () => {
    let caught: unknown;
    try {
      native.panicForDiagnostics('test panic');
    } catch (err) {
      caught = err;
    }
    expect(isTrnetError(caught, 'TRNET_PANIC')).toBe(true);
    expect((caught as Error).message).toContain('test panic');
    expect(softmax(new Float32Array([0, 0]), 2)).toEqual(new Float32Array([0.5, 0.5]));
  });
});
