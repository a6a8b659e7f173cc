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
import { type Embeddings, embeddingSnr, readEmbeddings } from './embeddings.js';
import {
  type ConfusionCell,
  type CurvePoint,
  confusionSpec,
  curveSpec,
  type EpochPoint,
  renderSvg,
  type TsnePoint,
  trainingSpec,
  tsneSpec,
} from './figures.js';
import { keepOrder, perplexityFor, TSNE_SETTINGS, tsne2d } from './tsne.js';

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
function curvePoints(cfg: ResolvedConfig, summary: Omit<VariantSummary, 'last'>[], pick: 'c' | 'uar'): CurvePoint[] {
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
function curveTable(points: CurvePoint[], xOrder: string[], digits: number, what = ''): string {
  const keys = [...new Set(points.map((p) => `${p.series}\t${p.facet}`))];
  const at = new Map(points.map((p) => [`${p.series}\t${p.facet}\t${p.x}`, p]));
  const rows = keys.map((k) => {
    const [series, facet] = k.split('\t') as [string, string];
    const cells = xOrder.map((x) => at.get(`${k}\t${x}`)).map((p) => `<td>${p ? `${p.mean.toFixed(digits)} ± ${p.std.toFixed(digits)}` : '–'}</td>`);
    return `<tr><th scope="row">${esc(series)}</th><td class="env">${esc(facet)}</td>${cells.join('')}</tr>`;
  });
  return `<details><summary>The numbers (mean ± std over tasks)${what ? `: ${esc(what)}` : ''}</summary>\n<table>\n<thead><tr><th scope="col">Method</th><th scope="col">Environment</th>${xOrder.map((x) => `<th scope="col">${esc(x)}</th>`).join('')}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>\n</details>`;
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

const CHOSEN_ROW = 'chosen epoch';
const LAST_ROW = 'last epoch';
const RERUN =
  'delete their <code>evaluation.json</code> and rerun the same <code>trnet train</code> command (training is reused from <code>run/</code>; only the evaluation runs again), then <code>trnet report</code>';

/** Fig. 2: c against SNR for the checkpoint chosen by validation UAR (top row) and the last epoch's (bottom row). */
async function fig2(cfg: ResolvedConfig, summary: VariantSummary[], envs: string[]): Promise<string> {
  const withC = summary.filter((s) => s.cleanC !== null);
  const chosen = curvePoints(cfg, withC, 'c').map((p) => ({ ...p, row: CHOSEN_ROW }));
  const lasts = withC.flatMap((s) => (s.last ? [s.last] : []));
  const last = curvePoints(cfg, lasts, 'c').map((p) => ({ ...p, row: LAST_ROW }));
  const cSeries = withC.map((s) => VARIANT_NAMES[s.variant]);
  const points = [...chosen, ...last];
  const epochs = lasts.map((l) => `${VARIANT_NAMES[l.variant]}: epoch ${l.bestEpoch.mean.toFixed(1)} chosen, ${l.epoch.mean.toFixed(1)} last`).join('; ');
  const lastNote =
    chosen.length === 0
      ? ''
      : last.length === 0
        ? ' <strong>The last epoch’s checkpoint was not evaluated</strong> (these tasks were evaluated before trnet recorded it): to add the bottom row, ' +
          `${RERUN}.`
        : ` Top row (“chosen epoch”): the checkpoint chosen by validation UAR (<code>run/best</code>, the one every other table and figure evaluates); bottom row (“last epoch”): the last epoch’s checkpoint (<code>run/last</code>) of the same tasks, which is the chosen one when the best epoch was the last (mean epochs over tasks — ${esc(epochs)}).`;
  const table = (pts: CurvePoint[], label: string, what: string) =>
    curveTable(
      pts.map((p) => ({ ...p, series: `${p.series} (${label})` })),
      snrOrder(cfg.snrsDb),
      3,
      what,
    );
  return figure(
    REPORT_TITLES.fig2,
    points.length > 0
      ? await renderSvg(
          curveSpec({
            title: 'Noise-level estimate c against SNR',
            points,
            xOrder: snrOrder(cfg.snrsDb),
            xTitle: 'SNR',
            yTitle: 'mean c',
            series: cSeries,
            facets: envs,
            yDomain: [0, 1],
            ...(last.length > 0 ? { rows: [CHOSEN_ROW, LAST_ROW] } : {}),
          }),
        )
      : null,
    `The SNR-aware module’s estimate c (eq. 1–2: the weight of the noisy features against the enhanced ones) for the variants that have it — TRNet and its two ablations. Per task c is averaged over the test utterances at each SNR; points are the mean over tasks, bars ± one sample std over tasks (folds × seeds); the curves are offset a little sideways within each SNR so that equal values stay visible. "clean" is unmixed test speech, the same in both panels. The paper’s Fig. 2 shows c rising with SNR.${lastNote}`,
    'No finished task of a variant with the SNR-aware module (TRNet, TRNet w/o L_low, TRNet w/o L_high).',
    chosen.length > 0
      ? table(chosen, 'chosen', 'the checkpoint chosen by validation UAR') +
          (last.length > 0 ? `\n${table(last, 'last epoch', 'the last epoch’s checkpoint')}` : '')
      : '',
  );
}

/** The models of Fig. 3 and how each panel is named; Baseline-c's clean rows are the frozen clean reference. */
const FIG3_PANELS: { variant: Variant; panel: string; cleanOnly: boolean }[] = [
  { variant: 'baseline-c', panel: 'Clean reference (frozen Baseline-c), clean speech', cleanOnly: true },
  { variant: 'baseline-n', panel: 'Baseline-n', cleanOnly: false },
  { variant: 'trnet', panel: 'TRNet', cleanOnly: false },
];

/**
 * Fig. 3: a t-SNE per model of the saved representations (tasks/<id>/embeddings.*) of one fold and seed — the first in
 * task order that has the most of the three models. Tasks evaluated before trnet saved representations get a labelled
 * note saying how to add them; damaged files are TRNET_EXPERIMENT_CORRUPT.
 */
async function fig3(input: HtmlReportInput): Promise<string> {
  const cfg = input.config;
  const finished = new Set(input.tasks.filter((t) => t.status === 'finished').map((t) => t.id));
  const wanted = FIG3_PANELS.filter((p) => p.variant === 'baseline-c' || cfg.variants.includes(p.variant));
  // Task ids are fold/seed/variant; groups in task order.
  const groups = [...new Set(input.tasks.map((t) => t.id.split('/').slice(0, 2).join('/')))];
  const lacking: string[] = [];
  type Found = { panel: (typeof FIG3_PANELS)[number]; emb: Embeddings }[];
  let pick: { group: string; found: Found } | null = null;
  for (const group of groups) {
    const found: Found = [];
    for (const panel of wanted) {
      const id = `${group}/${panel.variant}`;
      if (!finished.has(id)) continue;
      const emb = readEmbeddings(join(input.dir, 'tasks', id));
      if (emb) found.push({ panel, emb });
      else lacking.push(id);
    }
    if (found.length > (pick?.found.length ?? 0)) pick = { group, found };
  }
  const snr = embeddingSnr(cfg.snrsDb);
  const matchedLabel = `matched (${cfg.noise.matched.name}) ${snr} dB`;
  const settings = `t-SNE settings: ${TSNE_SETTINGS.library} ${TSNE_SETTINGS.version} (exact t-SNE), seed ${TSNE_SETTINGS.seed}, ${TSNE_SETTINGS.iterations} iterations, learning rate ${TSNE_SETTINGS.learningRate}, ${TSNE_SETTINGS.metric} distances, perplexity ${TSNE_SETTINGS.perplexity} capped at (points − 1) / 3, at most ${TSNE_SETTINGS.maxUtterances} utterances per panel (chosen by a seeded hash of their ids).`;
  const needs =
    lacking.length > 0
      ? `<p class="missing"><strong>Fig. 3 needs embeddings:</strong> ${lacking
          .slice(0, 6)
          .map((id) => `<code>${esc(id)}</code>`)
          .join(
            ', ',
          )}${lacking.length > 6 ? ` and ${lacking.length - 6} more task(s)` : ''} ${lacking.length === 1 ? 'was' : 'were'} evaluated before trnet saved utterance representations (no <code>embeddings.json</code> in the task folder). To include ${lacking.length === 1 ? 'it' : 'them'}, ${RERUN}.</p>`
      : '';
  if (!pick) {
    const body = needs || '<p class="missing">No finished task of Baseline-c, Baseline-n or TRNet yet.</p>';
    return `<section class="figure">\n<h2>${esc(REPORT_TITLES.fig3)}</h2>\n${body}\n<p class="caption">${esc(settings)}</p>\n</section>`;
  }
  const points: TsnePoint[] = [];
  const used: string[] = [];
  for (const { panel, emb } of pick.found) {
    const { index, values } = emb;
    // The same utterances in every panel: the first maxUtterances in the seeded order.
    const utterances = [...new Set(index.rows.map((r) => r.utterance))].sort((a, b) => keepOrder(a) - keepOrder(b) || (a < b ? -1 : 1));
    const kept = new Set(utterances.slice(0, TSNE_SETTINGS.maxUtterances));
    const rows = index.rows
      .map((r, i) => ({ r, i }))
      .filter(({ r }) => kept.has(r.utterance) && (r.condition === 'clean' || (!panel.cleanOnly && r.condition === 'matched' && r.snrDb === snr)));
    if (rows.length < 4) continue;
    const xy = await tsne2d(rows.map(({ i }) => values.subarray(i * index.dim, (i + 1) * index.dim)));
    rows.forEach(({ r }, k) => {
      points.push({
        panel: panel.panel,
        x: xy[k]![0],
        y: xy[k]![1],
        label: cfg.corpus.classes[r.label] ?? String(r.label),
        condition: r.condition === 'clean' ? 'clean' : matchedLabel,
      });
    });
    used.push(
      `${panel.panel}: ${rows.length} points, perplexity ${perplexityFor(rows.length)}, representation ${index.representation} of epoch ${index.epoch}`,
    );
  }
  const svg =
    points.length > 0
      ? await renderSvg(
          tsneSpec({
            title: `t-SNE of utterance representations (${pick.group.replace('/', ', ')})`,
            points,
            panels: pick.found.map((f) => f.panel.panel),
            classes: cfg.corpus.classes,
            conditions: ['clean', matchedLabel],
          }),
        )
      : null;
  const caption = `The representation each model’s classifier reads (h~ for TRNet, whose FiLM bridge calibrates it towards the clean reference; h for the baselines), from the checkpoint chosen by validation UAR, for the test utterances of fold ${esc(pick.group.split('/')[0]!)} (${esc(pick.group.split('/')[1]!)}) — clean (circles) and in the matched noise at ${snr} dB, the lowest test SNR — coloured by emotion. The clean reference is the frozen clean-trained Baseline-c (the model whose encoder gives h_s for TRNet’s L_high) on the clean utterances. Each panel is its own t-SNE, so distances compare within a panel, not across panels; small translucent points are utterances, large outlined ones the centre of each emotion × condition (as in the paper’s Fig. 3, which shows Baseline-c, Baseline-e and TRNet at 20, 10 and 0 dB). ${esc(used.join('; '))}.`;
  return figure(
    REPORT_TITLES.fig3,
    svg,
    caption,
    'Too few saved representations to embed (a panel needs 4 points).',
    `<p class="note tsne-settings">${esc(settings)}</p>${needs ? `\n${needs}` : ''}`,
  );
}

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

  parts.push(await fig2(cfg, summary, envs));

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

  parts.push(await fig3(input));

  return `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${esc(title)}</title>\n<style>\n${STYLE}\n</style>\n</head>\n<body>\n${parts.join('\n')}\n</body>\n</html>\n`;
}
