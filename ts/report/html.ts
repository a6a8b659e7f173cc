/**
 * report.html: one self-contained page (inline CSS, figures as inline SVG, no scripts, nothing fetched) that a reader
 * can open offline or attach to a review: the Table-1-style table, the paper's Fig. 2 (c against SNR), UAR against
 * SNR, confusion matrices per condition, and training curves per task. It renders whatever tasks have finished and
 * says which are missing, so a partial run folder gives a partial report rather than none.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../experiment/config.js';
import { type PredictionRow, type Stat, NAMES as VARIANT_NAMES, type VariantSummary } from '../experiment/results.js';
import type { TrainReport, Variant } from '../train.js';
import { type ConfusionCell, type CurvePoint, confusionSpec, curveSpec, type EpochPoint, renderSvg, trainingSpec } from './figures.js';

export interface HtmlReportInput {
  dir: string;
  config: ResolvedConfig;
  /** Every planned task and how far it got. */
  tasks: { id: string; status: 'finished' | 'started' | 'pending' }[];
  /** Aggregates over the finished tasks (results.json's summary). */
  summary: VariantSummary[];
  /** Every prediction of the finished tasks. */
  rows: PredictionRow[];
}

/** Section titles; the test looks for them, and readers of the paper will recognise the figure numbers. */
export const REPORT_TITLES = {
  table: 'Table 1: UAR and WAR on clean, matched-noise and unmatched-noise speech',
  fig2: 'Fig. 2: the noise-level estimate c against SNR',
  uar: 'UAR against SNR',
  confusion: 'Confusion matrices per condition',
  loss: 'Training curves: training loss per epoch',
  valUar: 'Training curves: validation UAR per epoch',
  fig3: 'Fig. 3: t-SNE of utterance representations',
} as const;

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const pct = (s: Stat | undefined | null) => (!s || Number.isNaN(s.mean) ? '–' : `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}`);
const CLEAN = 'clean';

/** SNR labels from the lowest SNR up, then clean (infinite SNR) — the x order of the SNR figures. */
function snrOrder(snrsDb: number[]): string[] {
  return [...snrsDb]
    .sort((a, b) => a - b)
    .map((s) => `${s} dB`)
    .concat(CLEAN);
}

function environments(cfg: ResolvedConfig): { condition: 'matched' | 'unmatched'; label: string }[] {
  const out: { condition: 'matched' | 'unmatched'; label: string }[] = [{ condition: 'matched', label: `matched: ${cfg.noise.matched.name}` }];
  if (cfg.noise.unmatched) out.push({ condition: 'unmatched', label: `unmatched: ${cfg.noise.unmatched.name}` });
  return out;
}

/** Mean ± std over tasks per variant, environment and SNR (clean repeated in each panel as the rightmost point). */
function curvePoints(cfg: ResolvedConfig, summary: VariantSummary[], pick: 'c' | 'uar'): CurvePoint[] {
  const points: CurvePoint[] = [];
  for (const s of summary) {
    const clean = pick === 'c' ? s.cleanC : s.clean.uar;
    for (const env of environments(cfg)) {
      for (const snr of cfg.snrsDb) {
        const at = s.perSnr[env.condition]?.[String(snr)];
        const stat = pick === 'c' ? at?.meanC : at?.uar;
        if (stat && !Number.isNaN(stat.mean))
          points.push({ series: VARIANT_NAMES[s.variant], facet: env.label, x: `${snr} dB`, mean: stat.mean, std: stat.std, n: stat.n });
      }
      if (clean && !Number.isNaN(clean.mean))
        points.push({ series: VARIANT_NAMES[s.variant], facet: env.label, x: CLEAN, mean: clean.mean, std: clean.std, n: clean.n });
    }
  }
  return points;
}

const CONDITION_LABEL = { clean: 'clean', matched: 'matched (all SNRs)', unmatched: 'unmatched (all SNRs)' } as const;

/** Confusion counts per (variant, condition), pooled over tasks and SNRs, normalised per true label. */
function confusionCells(rows: PredictionRow[], classes: string[]): ConfusionCell[] {
  const counts = new Map<string, number>();
  const support = new Map<string, number>();
  for (const r of rows) {
    const key = `${r.variant}\t${r.condition}`;
    counts.set(`${key}\t${r.label}\t${r.prediction}`, (counts.get(`${key}\t${r.label}\t${r.prediction}`) ?? 0) + 1);
    support.set(`${key}\t${r.label}`, (support.get(`${key}\t${r.label}`) ?? 0) + 1);
  }
  const cells: ConfusionCell[] = [];
  const groups = new Set(rows.map((r) => `${r.variant}\t${r.condition}`));
  for (const key of groups) {
    const [variant, condition] = key.split('\t') as [Variant, PredictionRow['condition']];
    classes.forEach((label, l) => {
      const n = support.get(`${key}\t${l}`) ?? 0;
      if (n === 0) return; // a class absent from the test speakers has no row to normalise
      classes.forEach((predicted, p) => {
        const count = counts.get(`${key}\t${l}\t${p}`) ?? 0;
        cells.push({ variant: VARIANT_NAMES[variant], condition: CONDITION_LABEL[condition], label, predicted, count, share: count / n });
      });
    });
  }
  return cells;
}

/** Epoch histories from tasks/<id>/run/report.json (written when a task's training finished). */
function epochPoints(dir: string, tasks: HtmlReportInput['tasks']): { points: EpochPoint[]; unreadable: string[] } {
  const points: EpochPoint[] = [];
  const unreadable: string[] = [];
  for (const t of tasks) {
    if (t.status === 'pending') continue;
    const file = join(dir, 'tasks', t.id, 'run', 'report.json');
    if (!existsSync(file)) continue; // training still running or interrupted: no history yet
    let report: TrainReport;
    try {
      report = JSON.parse(readFileSync(file, 'utf8')) as TrainReport;
      if (!Array.isArray(report.history)) throw new Error('no history');
    } catch {
      unreadable.push(t.id);
      continue;
    }
    const [fold, seed, variant] = t.id.split('/') as [string, string, Variant];
    for (const e of report.history) {
      points.push({
        variant: VARIANT_NAMES[variant] ?? variant,
        run: `${fold} · ${seed}`,
        epoch: e.epoch,
        trainLoss: e.train.total,
        valUar: e.val.uar,
        best: e.epoch === report.best.epoch,
      });
    }
  }
  return { points, unreadable };
}

function table1(summary: VariantSummary[], cfg: ResolvedConfig): string {
  const head = ['Method', 'Tasks', 'Clean UAR', 'Clean WAR', 'Matched UAR', 'Matched WAR', 'Unmatched UAR', 'Unmatched WAR'];
  const body = summary.map((s) => [
    VARIANT_NAMES[s.variant],
    String(s.tasks),
    pct(s.clean.uar),
    pct(s.clean.war),
    pct(s.matched?.uar),
    pct(s.matched?.war),
    pct(s.unmatched?.uar),
    pct(s.unmatched?.war),
  ]);
  const rows = body.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`).join('\n');
  const note = `Mean ± sample std over the finished tasks (folds × seeds), in %. The noisy columns average the SNRs ${cfg.snrsDb.join(', ')} dB, as the paper's Table 1 does; matched noise: ${esc(cfg.noise.matched.name)}, unmatched noise: ${esc(cfg.noise.unmatched?.name ?? 'none')}.`;
  return `<table>\n<thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead>\n<tbody>\n${rows}\n</tbody>\n</table>\n<p class="note">${note}</p>`;
}

/** The numbers behind a mean ± std figure, folded away under it (a reviewer can read them off exactly). */
function curveTable(points: CurvePoint[], xOrder: string[], digits: number): string {
  const keys = [...new Set(points.map((p) => `${p.series}\t${p.facet}`))];
  const at = new Map(points.map((p) => [`${p.series}\t${p.facet}\t${p.x}`, p]));
  const rows = keys.map((k) => {
    const [series, facet] = k.split('\t') as [string, string];
    const cells = xOrder.map((x) => at.get(`${k}\t${x}`)).map((p) => `<td>${p ? `${p.mean.toFixed(digits)} ± ${p.std.toFixed(digits)}` : '–'}</td>`);
    return `<tr><th scope="row">${esc(series)}</th><td class="env">${esc(facet)}</td>${cells.join('')}</tr>`;
  });
  return `<details><summary>The numbers (mean ± std over tasks)</summary>\n<table>\n<thead><tr><th scope="col">Method</th><th scope="col">Environment</th>${xOrder.map((x) => `<th scope="col">${esc(x)}</th>`).join('')}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>\n</details>`;
}

function figure(title: string, svg: string | null, caption: string, empty: string, extra = ''): string {
  const body = svg === null ? `<p class="missing">${esc(empty)}</p>` : `<div class="plot">${svg}</div>`;
  return `<section class="figure">\n<h2>${esc(title)}</h2>\n${body}\n<p class="caption">${caption}</p>${extra ? `\n${extra}` : ''}\n</section>`;
}

const STYLE = `body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1320px;color:#222;line-height:1.45}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th[scope=row],td.env{text-align:left}summary{cursor:pointer;font-size:13px;margin:6px 0}
thead th{background:#f2f2f2}.note,.caption,.meta{font-size:13px;color:#444}.plot{overflow-x:auto}.plot svg{display:block}
.banner{background:#fff4d6;border:1px solid #e0b84a;padding:8px 12px;font-size:14px}.missing{background:#f6f6f6;border:1px dashed #aaa;padding:10px 12px;font-size:14px}
code{font-size:12px}`;

/** Builds report.html's text from an experiment folder's finished tasks (see HtmlReportInput). */
export async function reportHtml(input: HtmlReportInput): Promise<string> {
  const { config: cfg, summary, rows } = input;
  const finished = input.tasks.filter((t) => t.status === 'finished').length;
  const missing = input.tasks.filter((t) => t.status !== 'finished');
  const order = summary.map((s) => VARIANT_NAMES[s.variant]);
  const envs = environments(cfg).map((e) => e.label);
  const parts: string[] = [];

  const title = `TRNet experiment: ${cfg.corpus.reader} (${cfg.corpus.classes.join(', ')})`;
  parts.push(`<h1>${esc(title)}</h1>`);
  parts.push(
    `<p class="meta">Run folder <code>${esc(input.dir)}</code>. ${finished} of ${input.tasks.length} tasks finished. Variants: ${esc(cfg.variants.map((v) => VARIANT_NAMES[v]).join(', '))}; seeds ${esc(cfg.seeds.join(', '))}; test SNRs ${esc(cfg.snrsDb.join(', '))} dB; ${cfg.features.frames} frames; enhancer ${esc(cfg.enhancer.kind ?? 'classical')}; ${cfg.training.epochs ?? 'default'} epochs at most; device ${esc(cfg.device)}.</p>`,
  );
  if (missing.length > 0) {
    const list = missing.map((t) => `<code>${esc(t.id)}</code> (${t.status})`).join(', ');
    parts.push(
      `<p class="banner"><strong>Partial run:</strong> ${missing.length} of ${input.tasks.length} tasks are missing (no <code>evaluation.json</code>); every table and figure below covers only the ${finished} finished task(s). Missing: ${list}. Rerun the same <code>trnet train</code> command to finish them, then <code>trnet report</code>.</p>`,
    );
  }

  parts.push(
    `<section>\n<h2>${esc(REPORT_TITLES.table)}</h2>\n${summary.length > 0 ? table1(summary, cfg) : '<p class="missing">No task has finished yet.</p>'}\n</section>`,
  );

  const cPoints = curvePoints(
    cfg,
    summary.filter((s) => s.cleanC !== null),
    'c',
  );
  const cSeries = summary.filter((s) => s.cleanC !== null).map((s) => VARIANT_NAMES[s.variant]);
  parts.push(
    figure(
      REPORT_TITLES.fig2,
      cPoints.length > 0
        ? await renderSvg(
            curveSpec({
              title: 'Noise-level estimate c against SNR',
              points: cPoints,
              xOrder: snrOrder(cfg.snrsDb),
              xTitle: 'SNR',
              yTitle: 'mean c',
              series: cSeries,
              facets: envs,
              yDomain: [0, 1],
            }),
          )
        : null,
      'The SNR-aware module’s estimate c (eq. 1–2: the weight of the noisy features against the enhanced ones) for the variants that have it — TRNet and its two ablations. Per task c is averaged over the test utterances at each SNR; points are the mean over tasks, bars ± one sample std over tasks (folds × seeds); the curves are offset a little sideways within each SNR so that equal values stay visible. "clean" is unmixed test speech, the same in both panels. The paper’s Fig. 2 shows c rising with SNR.',
      'No finished task of a variant with the SNR-aware module (TRNet, TRNet w/o L_low, TRNet w/o L_high).',
      cPoints.length > 0 ? curveTable(cPoints, snrOrder(cfg.snrsDb), 3) : '',
    ),
  );

  const uarPoints = curvePoints(cfg, summary, 'uar').map((p) => ({ ...p, mean: 100 * p.mean, std: 100 * p.std }));
  parts.push(
    figure(
      REPORT_TITLES.uar,
      uarPoints.length > 0
        ? await renderSvg(
            curveSpec({
              title: 'UAR (%) against SNR',
              points: uarPoints,
              xOrder: snrOrder(cfg.snrsDb),
              xTitle: 'SNR',
              yTitle: 'UAR (%)',
              series: order,
              facets: envs,
            }),
          )
        : null,
      'Unweighted average recall of every variant per environment and SNR; "clean" is unmixed test speech. Mean ± one sample std over tasks.',
      'No task has finished yet.',
      uarPoints.length > 0 ? curveTable(uarPoints, snrOrder(cfg.snrsDb), 2) : '',
    ),
  );

  const cells = confusionCells(rows, cfg.corpus.classes);
  const conditions = (['clean', 'matched', 'unmatched'] as const).filter((c) => rows.some((r) => r.condition === c)).map((c) => CONDITION_LABEL[c]);
  parts.push(
    figure(
      REPORT_TITLES.confusion,
      cells.length > 0
        ? await renderSvg(
            confusionSpec({
              title: 'Confusion matrices (rows: true label; share of the row)',
              cells,
              classes: cfg.corpus.classes,
              variants: order,
              conditions,
            }),
          )
        : null,
      'Predictions of every finished task pooled per variant and condition (the noisy conditions pool all their SNRs); each row is normalised by the number of test items with that true label, so the diagonal holds the per-class recalls whose mean is the UAR.',
      'No task has finished yet.',
    ),
  );

  const { points: epochs, unreadable } = epochPoints(input.dir, input.tasks);
  const epochVariants = order.concat([...new Set(epochs.map((e) => e.variant))].filter((v) => !order.includes(v)));
  const unreadableNote =
    unreadable.length > 0
      ? ` The training history of ${unreadable.map((id) => `<code>${esc(id)}</code>`).join(', ')} could not be read (run/report.json is not valid).`
      : '';
  parts.push(
    figure(
      REPORT_TITLES.loss,
      epochs.length > 0
        ? await renderSvg(
            trainingSpec({
              title: 'Training loss per epoch (CE + weighted auxiliary losses)',
              points: epochs,
              field: 'trainLoss',
              yTitle: 'training loss',
              variants: epochVariants,
              independentY: true,
            }),
          )
        : null,
      `The total training loss per epoch of each task (one line per fold · seed, one panel per variant, each panel with its own y scale): cross-entropy plus the variant’s weighted L_low and L_high. The ringed point is the epoch kept (best validation UAR). The two folds of one session train on the same speakers (they swap test and validation speaker), so with one seed their training-loss curves coincide.${unreadableNote}`,
      'No task has finished training yet.',
    ),
  );
  parts.push(
    figure(
      REPORT_TITLES.valUar,
      epochs.length > 0
        ? await renderSvg(
            trainingSpec({ title: 'Validation UAR per epoch', points: epochs, field: 'valUar', yTitle: 'validation UAR', variants: epochVariants }),
          )
        : null,
      'UAR on the validation speaker (the test speaker’s session partner) after each epoch; the ringed point is the epoch kept and evaluated. Baseline-c validates on clean speech, the other variants on the same mix of clean and noisy copies they train on.',
      'No task has finished training yet.',
    ),
  );

  parts.push(
    `<section>\n<h2>${esc(REPORT_TITLES.fig3)}</h2>\n<p class="missing"><strong>Not available yet.</strong> The paper’s Fig. 3 plots a t-SNE of utterance representations (Baseline-n, TRNet and the clean reference, coloured by emotion). The native evaluation returns only class probabilities and c for each utterance, not the pooled encoder representation, so there is nothing honest to embed; this report does not substitute class probabilities for representations.</p>\n</section>`,
  );

  return `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${esc(title)}</title>\n<style>\n${STYLE}\n</style>\n</head>\n<body>\n${parts.join('\n')}\n</body>\n</html>\n`;
}
