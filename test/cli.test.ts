import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './shared.js';

const cli = (...args: string[]) => spawnSync(process.execPath, [resolve(repoRoot, 'bin/trnet.mjs'), ...args], { encoding: 'utf8', timeout: 60_000 });

describe('trnet CLI', () => {
  it('doctor --json prints real versions and passing checks', () => {
    const r = cli('doctor', '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.info.libtorchVersion).toMatch(/^2\.11\.0/);
    expect(report.info.onnxruntimeVersion).toMatch(/^1\.\d+\.\d+$/);
    expect(report.checks.map((c: { name: string }) => c.name)).toEqual(['ONNX Runtime', 'panic guard']);
  });

  it('doctor prints a readable table and a bench figure', () => {
    const r = cli('doctor', '--bench');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^libtorch\s+2\.11\.0/m);
    expect(r.stdout).toMatch(/^ONNX Runtime\s+1\.\d+/m);
    expect(r.stdout).toMatch(/^bench\s+[\d.]+ GFLOP\/s/m);
  });

  it('doctor fails with the reason when ONNX Runtime cannot be loaded', () => {
    const r = spawnSync(process.execPath, [resolve(repoRoot, 'bin/trnet.mjs'), 'doctor'], {
      encoding: 'utf8',
      env: { ...process.env, ORT_DYLIB_PATH: '/nonexistent/libonnxruntime.so' },
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL\s+ONNX Runtime: could not load ONNX Runtime from \/nonexistent\/libonnxruntime\.so/);
  });

  it('rejects an unknown command with usage and exit code 2', () => {
    const r = cli('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(r.stderr).toContain('usage: trnet');
  });
});

describe('package entry', () => {
  it('lets a plain JavaScript program import trnet by name and call into the addon', () => {
    const program =
      "import { info, softmax } from 'trnet'; const y = softmax(new Float32Array([0, 0]), 2); console.log(JSON.stringify({ v: info().libtorchVersion, y: Array.from(y) }));";
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { cwd: repoRoot, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.v).toMatch(/^2\.11\.0/);
    expect(out.y).toEqual([0.5, 0.5]);
  });
});

describe('trnet enhance', () => {
  it('writes enhanced WAVs for good files and reports the bad one, exit code 1', async () => {
    const { mkdtempSync, readdirSync, rmSync, existsSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { sharedPath } = await import('./shared.js');
    const out = mkdtempSync(resolve(tmpdir(), 'trnet-cli-enhance-'));
    try {
      const dir = sharedPath('data/voicebank-samples');
      const noisyDir = readdirSync(dir).find((d) => /noisy/i.test(d))!;
      const files = readdirSync(resolve(dir, noisyDir))
        .sort()
        .slice(0, 2)
        .map((f) => resolve(dir, noisyDir, f));
      const r = cli('enhance', ...files, '/missing/x.wav', '--out', out, '--kind', 'gtcrn', '--model', sharedPath('models/gtcrn/gtcrn_simple.onnx'), '--json');
      expect(r.status, r.stderr).toBe(1);
      const report = JSON.parse(r.stdout) as { input: string; output?: string; error?: { code: string } }[];
      expect(report.map((x) => x.input)).toEqual([...files, '/missing/x.wav']);
      expect(report[2]!.error!.code).toBe('TRNET_AUDIO_MISSING');
      for (const x of report.slice(0, 2)) expect(existsSync(x.output!)).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
