/**
 * A plain TypeScript Kaldi log-Mel filterbank — the benchmark's "what you would write in JS" baseline, not
 * part of trnet (the product computes features in Rust). Paper configuration only: 16 kHz, 25/10 ms,
 * Povey window, pre-emphasis 0.97, DC removal, snip_edges, 512-point FFT, natural-log power Mel energies.
 */
export class PlainFbank {
  private readonly frameLength = 400;
  private readonly frameShift = 160;
  private readonly nFft = 512;
  private readonly window: Float64Array;
  private readonly banks: { start: number; weights: Float64Array }[];
  private readonly re = new Float64Array(512);
  private readonly im = new Float64Array(512);
  private readonly rev: Uint16Array;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;

  constructor(
    readonly numBins = 80,
    sampleRate = 16_000,
    lowFreq = 20,
  ) {
    const n = this.frameLength;
    this.window = Float64Array.from({ length: n }, (_, i) => (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1))) ** 0.85);
    const mel = (f: number) => 1127 * Math.log(1 + f / 700);
    const lo = mel(lowFreq);
    const hi = mel(sampleRate / 2);
    const delta = (hi - lo) / (numBins + 1);
    const half = this.nFft / 2;
    this.banks = Array.from({ length: numBins }, (_, b) => {
      const left = lo + b * delta;
      const centre = left + delta;
      const right = centre + delta;
      const w = new Float64Array(half);
      let start = -1;
      let end = -1;
      for (let k = 0; k < half; k++) {
        const m = mel((sampleRate / this.nFft) * k);
        const v = Math.max(0, Math.min((m - left) / (centre - left), (right - m) / (right - centre)));
        w[k] = v;
        if (v > 0) {
          if (start < 0) start = k;
          end = k + 1;
        }
      }
      return { start: Math.max(start, 0), weights: w.slice(Math.max(start, 0), Math.max(end, 0)) };
    });
    this.rev = Uint16Array.from({ length: this.nFft }, (_, i) => {
      let r = 0;
      for (let b = 0, x = i; b < 9; b++, x >>= 1) r = (r << 1) | (x & 1);
      return r;
    });
    this.cos = Float64Array.from({ length: half }, (_, i) => Math.cos((-2 * Math.PI * i) / this.nFft));
    this.sin = Float64Array.from({ length: half }, (_, i) => Math.sin((-2 * Math.PI * i) / this.nFft));
  }

  numFrames(samples: number): number {
    return samples < this.frameLength ? 0 : 1 + Math.floor((samples - this.frameLength) / this.frameShift);
  }

  compute(wave: Float32Array): Float32Array {
    const frames = this.numFrames(wave.length);
    const out = new Float32Array(frames * this.numBins);
    const { re, im } = this;
    const n = this.frameLength;
    for (let t = 0; t < frames; t++) {
      const off = t * this.frameShift;
      let mean = 0;
      for (let i = 0; i < n; i++) mean += wave[off + i]!;
      mean /= n;
      // Pre-emphasis with the first sample repeated before the frame, then the window; bit-reversed placement.
      let prev = wave[off]! - mean;
      for (let i = 0; i < n; i++) {
        const x = wave[off + i]! - mean;
        const j = this.rev[i]!;
        re[j] = (x - 0.97 * prev) * this.window[i]!;
        im[j] = 0;
        prev = x;
      }
      for (let i = n; i < this.nFft; i++) {
        const j = this.rev[i]!;
        re[j] = 0;
        im[j] = 0;
      }
      this.fft();
      for (let b = 0; b < this.numBins; b++) {
        const { start, weights } = this.banks[b]!;
        let e = 0;
        for (let k = 0; k < weights.length; k++) {
          const r = re[start + k]!;
          const m = im[start + k]!;
          e += weights[k]! * (r * r + m * m);
        }
        out[t * this.numBins + b] = Math.log(Math.max(e, 1.1920928955078125e-7));
      }
    }
    return out;
  }

  /** In-place iterative radix-2 FFT on bit-reversed input. */
  private fft(): void {
    const { re, im, cos, sin } = this;
    const n = this.nFft;
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >> 1;
      const step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < half; k++) {
          const wr = cos[k * step]!;
          const wi = sin[k * step]!;
          const a = start + k;
          const b = a + half;
          const tr = re[b]! * wr - im[b]! * wi;
          const ti = re[b]! * wi + im[b]! * wr;
          re[b] = re[a]! - tr;
          im[b] = im[a]! - ti;
          re[a] = re[a]! + tr;
          im[a] = im[a]! + ti;
        }
      }
    }
  }
}
