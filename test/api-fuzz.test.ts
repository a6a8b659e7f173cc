/**
 * Property-based test of the whole exported API (issue 11): test/fuzz/api-fuzz.mjs throws random and
 * adversarial arguments at every export for ~30 s in a child process. Asserted here, from outside: the
 * process survives (no abort, no hang), every failure was an Error with a TRNET_* code or an AbortError,
 * every call finished in its time bound, and every exported function was exercised.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, sharedDir } from './shared.js';

describe('the exported API under random and adversarial arguments', () => {
  it('never kills the process, fails only with coded errors, and never hangs', () => {
    const seed = Number(process.env.TRNET_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const budget = process.env.TRNET_FUZZ_SECONDS ?? '30';
    const r = spawnSync(process.execPath, [join(repoRoot, 'test/fuzz/api-fuzz.mjs'), sharedDir, String(seed), budget], {
      encoding: 'utf8',
      timeout: 150_000,
      killSignal: 'SIGKILL',
      maxBuffer: 64 << 20,
    });
    const context = `seed ${seed} (rerun with TRNET_FUZZ_SEED=${seed}); stderr: ${r.stderr.slice(-2000)}`;
    expect(r.signal, `the fuzzing process was killed (hang or abort): ${context}`).toBeNull();
    expect(r.status, context).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      exported: string[];
      missing: string[];
      counts: Record<string, number>;
      succeeded: Record<string, number>;
      calls: number;
      failures: { name: string; args: string[]; why: string }[];
    };
    expect(report.failures, context).toEqual([]);
    expect(report.missing, 'exports without a fuzzing entry in test/fuzz/api-fuzz.mjs').toEqual([]);
    for (const name of report.exported) expect(report.counts[name] ?? 0, name).toBeGreaterThanOrEqual(10);
    expect(report.calls).toBeGreaterThan(2000);
    // Well-formed calls happen too, so the native code is reached, not only the argument checks.
    for (const name of ['stft', 'istft', 'fixLength', 'decodeAudio', 'fbank', 'enhance', 'evaluate', 'load', 'Model#predict'])
      expect(report.succeeded[name] ?? 0, name).toBeGreaterThan(0);
  }, 180_000);
});
