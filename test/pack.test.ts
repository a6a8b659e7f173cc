/**
 * trnet as a dependency (issue 13, "Embedding"): `npm pack` the repo, install the tarball into a fresh project
 * outside the checkout, import it from plain JavaScript (an .mjs file run by node, no tsx), load a model trained
 * here and predict — the same numbers as the in-repo `predict`. Also the installed `trnet` bin.
 *
 * Needs dist/ and ts/native/ built (`npm run build`; `npm test` builds dist/ before vitest). The tarball's runtime
 * dependencies come from the npm cache that `npm ci` filled (--prefer-offline), the registry for what is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load, type PredictResult, readRavdess } from '../ts/index.js';
import { repoRoot, sharedPath, trainTinyModel } from './shared.js';

const work = mkdtempSync(join(tmpdir(), 'trnet-pack-'));
const consumer = join(work, 'consumer');
// The installed consumer holds thousands of small files; removing them can take a while on a busy machine.
afterAll(() => rmSync(work, { recursive: true, force: true }), 120_000);

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** The program a downstream user would write: plain ESM JavaScript importing the package by name. */
const PROGRAM = `import { load, isTrnetError } from 'trnet';
const [dir, ...files] = process.argv.slice(2);
const model = await load(dir);
const out = { resolved: import.meta.resolve('trnet'), variant: model.variant, predictions: [] };
for (const file of files) out.predictions.push(await model.predict(file));
try {
  await model.predict(Buffer.from('not audio'));
} catch (err) {
  out.badAudio = isTrnetError(err) ? err.code : 'not a trnet error';
}
model.close();
process.stdout.write(JSON.stringify(out));
`;

let tarball: string;
let modelDir: string;
let files: string[];

describe('trnet packed with npm pack and installed into a fresh project', () => {
  beforeAll(async () => {
    for (const built of ['dist/index.js', 'ts/native/index.js'])
      if (!existsSync(join(repoRoot, built))) throw new Error(`missing ${built}: run \`npm run build\` before this test`);
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], repoRoot)) as { filename: string; files: { path: string }[] }[];
    tarball = join(work, packed[0]!.filename);
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'trnet-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
    writeFileSync(join(consumer, 'main.mjs'), PROGRAM);
    run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], consumer);
    modelDir = await trainTinyModel(join(work, 'exp'));
    files = readRavdess(sharedPath('data/ravdess'))
      .filter((u) => u.path.includes('Actor_02'))
      .slice(0, 3)
      .map((u) => u.path);
  }, 600_000);

  it('packs the built addon and the compiled façade, and nothing of the build or run folders', () => {
    const listed = run('tar', ['tzf', tarball], work)
      .split('\n')
      .filter(Boolean)
      .map((p) => p.replace(/^package\//, ''));
    expect(listed).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts', 'bin/trnet.mjs', 'ts/native/index.js']));
    expect(listed.filter((p) => /^ts\/native\/trnet\..+\.node$/.test(p))).toHaveLength(1);
    for (const p of listed) expect(p, p).not.toMatch(/^(target|runs|test|crates|src|node_modules|examples|scripts|\.trnet-cache)\//);
    // The installed copy is a real folder inside the consumer, not a link back to this checkout.
    const installed = join(consumer, 'node_modules', 'trnet');
    expect(realpathSync(installed)).toBe(installed);
    expect(readdirSync(join(installed, 'ts', 'native')).some((f) => f.endsWith('.node'))).toBe(true);
  });

  it('imports from plain JavaScript and predicts what the in-repo predict gives', async () => {
    const out = JSON.parse(run(process.execPath, ['main.mjs', modelDir, ...files], consumer)) as {
      resolved: string;
      variant: string;
      predictions: PredictResult[];
      badAudio: string;
    };
    expect(out.resolved).toBe(`file://${join(realpathSync(consumer), 'node_modules', 'trnet', 'dist', 'index.js')}`);
    expect(out.variant).toBe('trnet');
    expect(out.badAudio).toMatch(/^TRNET_AUDIO_/);
    const model = await load(modelDir);
    const want = await Promise.all(files.map((f) => model.predict(f)));
    model.close();
    expect(out.predictions).toEqual(want);
  });

  it("runs the installed package's trnet bin", () => {
    const lines = run(join(consumer, 'node_modules', '.bin', 'trnet'), ['predict', modelDir, files[0]!, '--json'], consumer)
      .trim()
      .split('\n');
    expect(lines).toHaveLength(1);
    const row = JSON.parse(lines[0]!) as { file: string; label: string; c: number };
    expect(row.file).toBe(files[0]);
    expect(typeof row.label).toBe('string');
    expect(row.c).toBeGreaterThanOrEqual(0);
  });
});
