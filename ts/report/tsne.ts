/**
 * The t-SNE of the report's Fig. 3, through DruidJS (a maintained dimensionality-reduction library; exact t-SNE with
 * its own seeded generator), with every setting fixed here and printed under the figure so the plot can be redrawn.
 */
import type { TSNE as DruidTsne } from '@saehrimnir/druidjs';

/** The settings of every t-SNE in the report. `perplexity` is the most used: a panel of n points uses at most (n − 1) / 3. */
export const TSNE_SETTINGS = {
  library: '@saehrimnir/druidjs',
  /** Pinned exactly in package.json; a test checks the installed copy is this one. */
  version: '0.9.0',
  seed: 1,
  iterations: 1000,
  perplexity: 30,
  /** Learning rate (DruidJS's `epsilon`, its default). */
  learningRate: 10,
  /** DruidJS's default: squared Euclidean distances between the representations, as in van der Maaten & Hinton. */
  metric: 'squared Euclidean',
  /** Utterances kept per panel at most (the paper's Fig. 3 draws 500), chosen by a seeded hash of their ids. */
  maxUtterances: 500,
} as const;

/** The perplexity used for `n` points: the setting, capped so that each point has enough neighbours. */
export function perplexityFor(n: number): number {
  return Math.max(1, Math.min(TSNE_SETTINGS.perplexity, Math.floor((n - 1) / 3)));
}

/** Two-dimensional t-SNE coordinates of `rows` (each a representation), with the settings above. Needs 4 rows at least. */
export async function tsne2d(rows: Float32Array[]): Promise<[number, number][]> {
  if (rows.length < 4) throw Object.assign(new Error(`t-SNE: expected at least 4 representations, found ${rows.length}.`), { code: 'TRNET_INVALID_ARGUMENT' });
  // Loaded on first use, like Vega: only `trnet report` needs it.
  const { TSNE } = (await import('@saehrimnir/druidjs')) as { TSNE: typeof DruidTsne };
  const X = rows.map((r) => Array.from(r));
  const tsne = new TSNE(X, { perplexity: perplexityFor(rows.length), epsilon: TSNE_SETTINGS.learningRate, d: 2, seed: TSNE_SETTINGS.seed });
  const Y = tsne.transform(TSNE_SETTINGS.iterations) as number[][];
  return Y.map((p) => [p[0]!, p[1]!]);
}

/** FNV-1a of a string (32 bits): the seeded order in which utterances are kept when a panel has too many. */
export function keepOrder(id: string): number {
  let h = 0x811c9dc5 ^ TSNE_SETTINGS.seed;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
