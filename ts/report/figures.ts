/**
 * The report's figures as Vega-Lite specs, rendered to standalone SVG strings in Node (Vega's headless SVG renderer:
 * no browser, no canvas, no network). Each builder takes plain rows so it can be tested and reused without a run
 * folder; html.ts gathers the rows from the experiment's outputs.
 */
import type { TopLevelSpec } from 'vega-lite';

/** One point of a mean ± std curve: a series (variant) in a facet (environment) at an x position (an SNR or clean). */
export interface CurvePoint {
  series: string;
  facet: string;
  x: string;
  mean: number;
  std: number;
  /** Tasks averaged. */
  n: number;
  /** The facet row (e.g. which checkpoint), when the figure has rows. */
  row?: string;
}

/** One utterance in a t-SNE panel (Fig. 3). */
export interface TsnePoint {
  panel: string;
  x: number;
  y: number;
  /** The emotion (true label). */
  label: string;
  /** Clean, or the noise condition and SNR. */
  condition: string;
}

export interface ConfusionCell {
  variant: string;
  condition: string;
  label: string;
  predicted: string;
  count: number;
  /** count / items of this label in this (variant, condition): a row-normalised matrix, its diagonal the recalls. */
  share: number;
}

export interface EpochPoint {
  variant: string;
  /** The task within its variant: fold and seed. */
  run: string;
  epoch: number;
  trainLoss: number;
  valUar: number;
  best: boolean;
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const BASE_CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: '#bbb' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 },
  header: { labelFontSize: 12, titleFontSize: 12 },
};

/** Compiles a Vega-Lite spec and renders it to an SVG document string (white background). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: Vega takes a second or more to import, which every other command (and `import 'trnet'`)
  // would otherwise pay.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const { spec: vgSpec } = compile(spec);
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Mean ± std curves over an ordered categorical x axis (SNRs from low to high, then clean), one colour per series,
 * one panel per facet: the paper's Fig. 2 (c against SNR) and UAR against SNR.
 */
export function curveSpec(opts: {
  title: string;
  points: CurvePoint[];
  xOrder: string[];
  xTitle: string;
  yTitle: string;
  series: string[];
  facets: string[];
  yDomain?: [number, number];
  /** Facet rows (the points' `row`), top to bottom; absent: one row. */
  rows?: string[];
}): TopLevelSpec {
  const values = opts.points.map((p) => ({ ...p, lo: p.mean - p.std, hi: p.mean + p.std }));
  // The y range covers every error bar (a layered errorbar does not always widen the shared scale), and marks are
  // clipped to it so a fixed domain (c in [0, 1]) is never overdrawn.
  const lo = Math.min(...values.map((v) => v.lo));
  const hi = Math.max(...values.map((v) => v.hi));
  const pad = 0.03 * (hi - lo || 1);
  const domain = opts.yDomain ?? [lo - pad, hi + pad];
  // Series are dodged a little inside each SNR's band so that curves with equal values stay visible.
  const x = {
    field: 'x',
    type: 'ordinal' as const,
    sort: opts.xOrder,
    title: opts.xTitle,
    axis: { labelAngle: 0 },
    scale: { type: 'band' as const, paddingInner: 0.55, paddingOuter: 0.3 },
  };
  const xOffset = { field: 'series', type: 'nominal' as const, sort: opts.series };
  const color = { field: 'series', type: 'nominal' as const, sort: opts.series, title: null, legend: { orient: 'bottom' as const, columns: 3 } };
  const scale = { domain, nice: true, zero: false };
  return {
    title: opts.title,
    data: { values },
    config: BASE_CONFIG,
    facet: {
      column: { field: 'facet', type: 'nominal', sort: opts.facets, title: null },
      ...(opts.rows
        ? {
            row: {
              field: 'row',
              type: 'nominal' as const,
              sort: opts.rows,
              title: null,
              header: { labelAngle: 0, labelAlign: 'left' as const, labelLimit: 150 },
            },
          }
        : {}),
    },
    spec: {
      width: 320,
      height: 220,
      layer: [
        {
          mark: { type: 'errorbar', ticks: { size: 6 }, clip: true },
          encoding: { x, xOffset, y: { field: 'lo', type: 'quantitative', scale, title: opts.yTitle }, y2: { field: 'hi' }, color },
        },
        {
          mark: { type: 'line', point: { size: 40 }, clip: true },
          encoding: { x, xOffset, y: { field: 'mean', type: 'quantitative', scale, title: opts.yTitle }, color },
        },
      ],
    },
  };
}

/** Row-normalised confusion matrices: one panel per (variant, condition), cells labelled with their share in %. */
export function confusionSpec(opts: { title: string; cells: ConfusionCell[]; classes: string[]; variants: string[]; conditions: string[] }): TopLevelSpec {
  const axis = (title: string) => ({ field: title === 'true label' ? 'label' : 'predicted', type: 'ordinal' as const, sort: opts.classes, title });
  return {
    title: opts.title,
    data: { values: opts.cells },
    config: BASE_CONFIG,
    facet: {
      row: { field: 'variant', type: 'nominal', sort: opts.variants, title: null },
      column: { field: 'condition', type: 'nominal', sort: opts.conditions, title: null },
    },
    spec: {
      width: 34 * opts.classes.length,
      height: 34 * opts.classes.length,
      encoding: { x: axis('predicted'), y: axis('true label') },
      layer: [
        {
          mark: 'rect',
          encoding: {
            color: {
              field: 'share',
              type: 'quantitative',
              scale: { domain: [0, 1], range: ['#ffffff', '#08519c'], interpolate: 'rgb' },
              title: 'row share',
              legend: { format: '.0%' },
            },
          },
        },
        {
          mark: { type: 'text', fontSize: 10 },
          encoding: {
            text: { field: 'share', type: 'quantitative', format: '.0%' },
            color: { condition: { test: 'datum.share > 0.55', value: 'white' }, value: 'black' },
          },
        },
      ],
    },
  };
}

/** Per-task curves of one training quantity per epoch, one panel per variant; the chosen (best) epoch is ringed. */
export function trainingSpec(opts: {
  title: string;
  points: EpochPoint[];
  field: 'trainLoss' | 'valUar';
  yTitle: string;
  variants: string[];
  independentY?: boolean;
}): TopLevelSpec {
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1, format: 'd' } };
  const y = { field: opts.field, type: 'quantitative' as const, title: opts.yTitle, scale: { zero: false } };
  const color = {
    field: 'run',
    type: 'nominal' as const,
    title: 'fold · seed',
    scale: { scheme: 'category20' },
    legend: { orient: 'bottom' as const, columns: 5 },
  };
  return {
    title: opts.title,
    data: { values: opts.points },
    config: BASE_CONFIG,
    facet: { field: 'variant', type: 'nominal', sort: opts.variants, title: null },
    columns: 3,
    spec: {
      width: 240,
      height: 160,
      layer: [
        // Per-epoch dots only for short runs: at 80 epochs × 30 tasks they would be most of the page's bytes.
        {
          mark: { type: 'line', strokeWidth: 1.2, ...(Math.max(0, ...opts.points.map((p) => p.epoch)) <= 20 ? { point: { size: 16 } } : {}) },
          encoding: { x, y, color },
        },
        { transform: [{ filter: 'datum.best' }], mark: { type: 'point', size: 120, strokeWidth: 2 }, encoding: { x, y, color } },
      ],
    },
    // The training loss differs in scale between variants (L_low and L_high add to the cross-entropy).
    ...(opts.independentY ? { resolve: { scale: { y: 'independent' } } } : {}),
  };
}

/**
 * t-SNE panels (the paper's Fig. 3): one panel per model, each with its own embedding (the axes have no units, so
 * they are hidden), utterances coloured by emotion and shaped by condition, and the centre of each emotion ×
 * condition drawn large and opaque as in the paper.
 */
export function tsneSpec(opts: { title: string; points: TsnePoint[]; panels: string[]; classes: string[]; conditions: string[] }): TopLevelSpec {
  const axis = { axis: null, scale: { zero: false, nice: false } };
  const color = { field: 'label', type: 'nominal' as const, sort: opts.classes, title: 'emotion', scale: { scheme: 'category10' } };
  const shape = { field: 'condition', type: 'nominal' as const, sort: opts.conditions, title: 'condition' };
  return {
    title: opts.title,
    data: { values: opts.points },
    config: { ...BASE_CONFIG, legend: { ...BASE_CONFIG.legend, orient: 'bottom' as const, direction: 'horizontal' as const } },
    facet: { column: { field: 'panel', type: 'nominal', sort: opts.panels, title: null, header: { labelFontSize: 13 } } },
    spec: {
      width: 300,
      height: 300,
      layer: [
        {
          mark: { type: 'point', filled: true, size: 28, opacity: 0.55 },
          encoding: { x: { field: 'x', type: 'quantitative', ...axis }, y: { field: 'y', type: 'quantitative', ...axis }, color, shape },
        },
        {
          transform: [
            {
              aggregate: [
                { op: 'mean', field: 'x', as: 'x' },
                { op: 'mean', field: 'y', as: 'y' },
              ],
              groupby: ['label', 'condition'],
            },
          ],
          mark: { type: 'point', filled: true, size: 220, opacity: 1, stroke: 'black', strokeWidth: 1.2 },
          encoding: { x: { field: 'x', type: 'quantitative', ...axis }, y: { field: 'y', type: 'quantitative', ...axis }, color, shape },
        },
      ],
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
  };
}
