/**
 * What `load(dir, { precision: 'bf16' })` changes (issue 13): the same model loaded in fp32 and in bf16 predicts
 * the same real RAVDESS utterances; prints how often the labels agree and how far the probabilities and c move.
 *
 *   npx tsx bench/precision.ts [--clips 200] [--model <task or checkpoint folder>]
 *
 * The model: `--model`, else the paper-size bench model bench/predict.ts makes once in
 * $TRNET_CACHE/bench-predict-v1 (run that first). The utterances: RAVDESS actors 05 and up (the bench model never
 * saw them), four emotions, in file order, whole (the model cuts or pads them to its 500 frames). Needs a CPU with
 * AVX-512 BF16 (bf16 is TRNET_DEVICE_UNAVAILABLE otherwise).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { load, readRavdess } from '../ts/index.js';
import { repoRoot, sharedDir, table } from './lib/timing.js';

const { values } = parseArgs({ options: { clips: { type: 'string', default: '200' }, model: { type: 'string' } } });
const CLASSES = ['angry', 'happy', 'neutral', 'sad'];
const cacheDir = execFileSync('bash', ['-c', 'source scripts/env.sh && echo "$TRNET_CACHE"'], { cwd: repoRoot, encoding: 'utf8' }).trim();
const modelDir = values.model ?? join(cacheDir, 'bench-predict-v1', 'trnet', 'best');
if (!existsSync(modelDir)) throw new Error(`${modelDir}: no model; run npx tsx bench/predict.ts once (it makes the bench model), or pass --model`);
const gtcrn = execFileSync('bash', [join(repoRoot, 'scripts/export-gtcrn-offline.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  .trim()
  .split('\n')
  .pop()!;
const settings = values.model ? {} : { classes: CLASSES, features: { frames: 500 }, enhancer: { kind: 'gtcrn', model: gtcrn } };

const files = readRavdess(join(sharedDir, 'data/ravdess'), { emotions: CLASSES })
  .filter((u) => u.speaker >= 'Actor_05')
  .slice(0, Number(values.clips))
  .map((u) => u.path);
const fp32 = await load(modelDir, settings);
const bf16 = await load(modelDir, { ...settings, precision: 'bf16' });
const [a, b] = [await fp32.predictBatch(files), await bf16.predictBatch(files)];
const classes = fp32.classes;
fp32.close();
bf16.close();

const dp = a.flatMap((p, i) => classes.map((k) => Math.abs(p.probabilities[k]! - b[i]!.probabilities[k]!))).sort((x, y) => x - y);
const dc = a.map((p, i) => (p.c === null ? 0 : Math.abs(p.c - b[i]!.c!)));
const agree = a.filter((p, i) => p.label === b[i]!.label).length;
// How close the fp32 decisions were: a label can only flip where the top two probabilities are nearly tied.
const margin = (p: (typeof a)[number]) => {
  const s = Object.values(p.probabilities).sort((x, y) => y - x);
  return s[0]! - s[1]!;
};
const q = (xs: number[], f: number) => xs[Math.min(xs.length - 1, Math.floor(f * xs.length))]!;
console.log(`${modelDir} (${a.length} RAVDESS utterances, actors 05+)\n`);
console.log(
  table([
    ['', 'value'],
    ['labels equal (bf16 vs fp32)', `${agree} / ${a.length}`],
    ['max |Δp|', q(dp, 1).toExponential(2)],
    ['99th percentile |Δp|', q(dp, 0.99).toExponential(2)],
    ['median |Δp|', q(dp, 0.5).toExponential(2)],
    ['max |Δc|', Math.max(...dc).toExponential(2)],
    ['smallest fp32 top-2 margin', Math.min(...a.map(margin)).toExponential(2)],
  ]),
);
