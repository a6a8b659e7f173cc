/**
 * Saved utterance representations: what the report's t-SNE (the paper's Fig. 3) embeds.
 *
 * Every task folder holds, next to its evaluation.json, the representation the classifier reads for a subset of its
 * test utterances, taken from the checkpoint chosen by validation UAR (run/best):
 *
 * - `embeddings.f32`: `count × dim` little-endian float32 values, row after row (row i is bytes 4·dim·i … 4·dim·(i+1));
 * - `embeddings.json`: the index — format and version, count, dim, which checkpoint and representation, and one
 *   entry per row (utterance, speaker, label index, condition, SNR).
 *
 * The subset is the paper's: every test utterance of the task clean, and the same utterances in the matched noise at
 * the lowest test SNR (0 dB by default); Baseline-c's clean rows are the frozen clean reference's representations of
 * the clean utterances (its best/ checkpoint is the reference the TRNet variants were trained against). At the paper's
 * 256-dimensional representation that is 2 KiB per utterance and task.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Condition } from '../experiment/results.js';
import type { Variant } from '../train.js';

export const EMBEDDINGS_INDEX = 'embeddings.json';
export const EMBEDDINGS_DATA = 'embeddings.f32';
export const EMBEDDINGS_FORMAT = 'trnet-embeddings';
export const EMBEDDINGS_VERSION = 1;

export interface EmbeddingRow {
  utterance: string;
  speaker: string;
  /** Class index into the experiment's classes. */
  label: number;
  condition: Condition;
  /** null for clean speech. */
  snrDb: number | null;
}

export interface EmbeddingIndex {
  format: typeof EMBEDDINGS_FORMAT;
  version: number;
  file: typeof EMBEDDINGS_DATA;
  dtype: 'float32';
  byteOrder: 'little-endian';
  count: number;
  dim: number;
  variant: Variant;
  checkpoint: 'best';
  /** The epoch of that checkpoint. */
  epoch: number;
  /** 'h~' (the FiLM-calibrated representation, which the TRNet variants' classifier reads) or 'h' (the encoder's). */
  representation: 'h~' | 'h';
  rows: EmbeddingRow[];
}

export interface Embeddings {
  index: EmbeddingIndex;
  /** count × dim, row-major. */
  values: Float32Array;
}

/** The SNR of the matched-noise rows kept: the lowest test SNR (the largest shift from clean speech). */
export function embeddingSnr(snrsDb: number[]): number {
  return Math.min(...snrsDb);
}

/** Which evaluated rows are kept for the t-SNE. */
export function keepEmbedding(condition: Condition, snrDb: number | null, snrsDb: number[]): boolean {
  return condition === 'clean' || (condition === 'matched' && snrDb === embeddingSnr(snrsDb));
}

/** The files' contents for `rows` and their vectors (each of one length). */
export function encodeEmbeddings(
  meta: Pick<EmbeddingIndex, 'variant' | 'epoch' | 'representation'>,
  rows: EmbeddingRow[],
  vectors: number[][],
): { index: EmbeddingIndex; data: Buffer } {
  const dim = vectors[0]?.length ?? 0;
  if (vectors.length !== rows.length || vectors.some((v) => v.length !== dim))
    throw Object.assign(
      new Error(
        `embeddings: expected one vector of one length per row (${rows.length} rows), found ${vectors.length} of lengths ${[...new Set(vectors.map((v) => v.length))].join(', ')}.`,
      ),
      {
        code: 'TRNET_INTERNAL',
      },
    );
  const data = Buffer.alloc(4 * dim * vectors.length);
  vectors.forEach((v, i) => {
    v.forEach((x, j) => {
      data.writeFloatLE(x, 4 * (i * dim + j));
    });
  });
  const index: EmbeddingIndex = {
    format: EMBEDDINGS_FORMAT,
    version: EMBEDDINGS_VERSION,
    file: EMBEDDINGS_DATA,
    dtype: 'float32',
    byteOrder: 'little-endian',
    count: rows.length,
    dim,
    checkpoint: 'best',
    ...meta,
    rows,
  };
  return { index, data };
}

const corrupt = (path: string, found: string) =>
  Object.assign(
    new Error(
      `${path}: expected the embeddings trnet wrote (${EMBEDDINGS_FORMAT} version ${EMBEDDINGS_VERSION}: an index and count × dim little-endian float32 values), found ${found}. Delete the task's evaluation.json and embeddings files and rerun the same \`trnet train\` command to evaluate it again (training is reused).`,
    ),
    { code: 'TRNET_EXPERIMENT_CORRUPT' },
  );

/**
 * Reads a task folder's embeddings; null when the task has none (evaluated before trnet saved them). Damaged or
 * inconsistent files are TRNET_EXPERIMENT_CORRUPT naming the file.
 */
export function readEmbeddings(taskDir: string): Embeddings | null {
  const indexPath = join(taskDir, EMBEDDINGS_INDEX);
  const dataPath = join(taskDir, EMBEDDINGS_DATA);
  if (!existsSync(indexPath)) return null;
  let index: EmbeddingIndex;
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8')) as EmbeddingIndex;
  } catch (err) {
    throw corrupt(indexPath, `text that does not parse (${(err as Error).message})`);
  }
  if (index?.format !== EMBEDDINGS_FORMAT || index.version !== EMBEDDINGS_VERSION)
    throw corrupt(indexPath, `format ${JSON.stringify(index?.format)} version ${JSON.stringify(index?.version)}`);
  if (!Number.isInteger(index.count) || !Number.isInteger(index.dim) || index.dim < 1 || !Array.isArray(index.rows) || index.rows.length !== index.count)
    throw corrupt(indexPath, `count ${index.count}, dim ${index.dim} and ${Array.isArray(index.rows) ? index.rows.length : 'no'} rows`);
  if (!existsSync(dataPath)) throw corrupt(dataPath, 'no such file');
  const bytes = statSync(dataPath).size;
  if (bytes !== 4 * index.count * index.dim)
    throw corrupt(dataPath, `${bytes} bytes where ${index.count} × ${index.dim} float32 values take ${4 * index.count * index.dim}`);
  const buf = readFileSync(dataPath);
  const values = new Float32Array(index.count * index.dim);
  for (let i = 0; i < values.length; i++) values[i] = buf.readFloatLE(4 * i);
  if (!values.every(Number.isFinite)) throw corrupt(dataPath, 'values that are not finite');
  return { index, values };
}
