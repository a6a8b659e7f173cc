/** Small helpers the benchmarks share. */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const sharedDir = resolve(process.env.TRNET_SHARED ?? resolve(repoRoot, '../shared'));

/** Best wall time of `repeats` runs, in seconds (the least disturbed run on a shared machine). */
export async function bestOf(repeats: number, fn: () => unknown | Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

/** RAVDESS files from the first actors, sorted, at most `count`. */
export function ravdessFiles(count: number): string[] {
  const root = join(sharedDir, 'data/ravdess');
  const out: string[] = [];
  for (const actor of readdirSync(root).sort()) {
    for (const f of readdirSync(join(root, actor)).sort()) {
      if (f.endsWith('.flac')) out.push(join(root, actor, f));
      if (out.length >= count) return out;
    }
  }
  return out;
}

/** The dev venv's python (scripts/setup-dev.sh), or the reason it is unavailable. */
export function devPython(): { python?: string; why?: string } {
  try {
    const python = execFileSync('bash', [join(repoRoot, 'scripts/setup-dev.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    return { python };
  } catch (err) {
    return { why: `scripts/setup-dev.sh failed: ${String(err)}` };
  }
}

export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/** A 16-bit PCM mono WAV file's bytes. */
export function wav16(samples: Float32Array, rate: number): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767))), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}
