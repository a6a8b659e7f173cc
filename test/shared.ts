/** Where the tests find real data and models: TRNET_SHARED, defaulting to ../shared beside the repo. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExperimentConfig } from '../ts/index.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const sharedDir = resolve(process.env.TRNET_SHARED ?? resolve(repoRoot, '../shared'));

/** A path inside the shared folder; throws with a fix if it is missing, so no test silently passes without data. */
export function sharedPath(...parts: string[]): string {
  const p = resolve(sharedDir, ...parts);
  if (!existsSync(p)) throw new Error(`missing ${p}: set TRNET_SHARED to the folder holding data/ and models/`);
  return p;
}

/**
 * The whole-utterance GTCRN export that scripts/export-gtcrn-offline.sh makes from the shared DNS3 checkpoint (a
 * generated file, never committed; `npm test` and `npm run setup` make it): TRNET_GTCRN_OFFLINE if set, else the
 * script's default, $TRNET_CACHE/models/gtcrn-offline-v1-<first 16 hex of the checkpoint's SHA-256>.onnx.
 * Gives the reason instead when the file is not there.
 */
export function gtcrnOfflinePath(): { path?: string; why?: string } {
  let path = process.env.TRNET_GTCRN_OFFLINE;
  if (!path) {
    const checkpoint = resolve(sharedDir, 'models/gtcrn/stream_model_trained_on_dns3.tar');
    if (!existsSync(checkpoint)) return { why: `missing ${checkpoint}` };
    const digest = createHash('sha256').update(readFileSync(checkpoint)).digest('hex');
    const cache = process.env.TRNET_CACHE || resolve(process.env.XDG_CACHE_HOME || resolve(homedir(), '.cache'), 'trnet');
    path = resolve(cache, 'models', `gtcrn-offline-v1-${digest.slice(0, 16)}.onnx`);
  }
  return existsSync(path) ? { path } : { why: `no whole-utterance GTCRN export at ${path}; make it with scripts/export-gtcrn-offline.sh` };
}

/**
 * The tiny real experiment the experiment, report, Slurm and predict tests share: RAVDESS actors 1–6 (3 sessions,
 * 4 emotions), ESC-50 fold 4 (40 clips) matched, Speech Commands noise unmatched, 2 folds × seed 5 × all six
 * variants, SNRs 10 and 0 dB, 100 frames, a narrow model, 2 epochs. `changes` override top-level keys.
 */
export function tinyExperiment(outDir: string, storeDir: string | undefined, changes: Partial<ExperimentConfig> = {}): ExperimentConfig {
  return {
    outDir,
    corpus: { reader: 'ravdess', path: sharedPath('data/ravdess'), speakers: ['Actor_01', 'Actor_02', 'Actor_03', 'Actor_04', 'Actor_05', 'Actor_06'] },
    noise: {
      matched: { reader: 'esc50', path: sharedPath('data/esc50'), folds: [4], limit: 40 },
      unmatched: { reader: 'folder', path: sharedPath('data/noise-speechcommands'), name: 'speech-commands' },
    },
    folds: { limit: 2 },
    seeds: [5],
    snrsDb: [10, 0],
    features: storeDir ? { frames: 100, storeDir } : { frames: 100 },
    model: { channels: [8, 8, 16, 16] },
    training: { epochs: 2, batchSize: 32 },
    ...changes,
  };
}

/**
 * Trains the smallest real model the serving and packaging tests load: the tiny experiment cut to one fold, the
 * TRNet variant, one SNR and one epoch (ESC-50 noise only). Resolves with its task folder, which `load()` takes.
 */
export async function trainTinyModel(outDir: string): Promise<string> {
  const { train } = await import('../ts/index.js');
  const config = tinyExperiment(outDir, undefined, {
    noise: { matched: { reader: 'esc50', path: sharedPath('data/esc50'), folds: [4], limit: 40 }, unmatched: null },
    folds: { limit: 1 },
    snrsDb: [10],
    variants: ['trnet'],
    training: { epochs: 1, batchSize: 32 },
  });
  const result = await train(config);
  // The runner also trains the variants TRNet starts from; the TRNet task is the one to load.
  const task = result.tasks.find((t) => t.variant === 'trnet')!;
  return resolve(outDir, 'tasks', task.fold, `seed-${task.seed}`, task.variant);
}

/** The `code` of the error a promise (or a function, sync or async) fails with; throws if it does not fail. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return (err as { code?: string }).code;
  }
  throw new Error('expected an error');
}
