/**
 * Metrics and the experiment's outputs: per-task metrics from prediction rows, the aggregate over folds and seeds,
 * `results.json`, `predictions.csv` and `RESULTS.md` (a Table-1-style table, a per-SNR table and the mean noise-level
 * estimate c per environment and SNR — the data of the paper's Fig. 2).
 */
import type { Variant } from '../train.js';
import { pairedTest, spread } from './significance.js';

export type Condition = 'clean' | 'matched' | 'unmatched';

export interface PredictionRow {
  utterance: string;
  speaker: string;
  fold: string;
  seed: number;
  variant: Variant;
  condition: Condition;
  /** null for clean speech. */
  snrDb: number | null;
  label: number;
  prediction: number;
  probs: number[];
  /** The noise-level estimate (variants with the SNR-aware module), else null. */
  c: number | null;
}

export interface Score {
  uar: number;
  war: number;
  /** Items scored. */
  n: number;
  meanC: number | null;
}

export interface ConditionScore extends Score {
  /** Per SNR (noisy conditions); the condition's uar/war are the means over SNRs, as the paper's Table 1. */
  perSnr?: Record<string, Score>;
}

export interface TaskMetrics {
  clean: ConditionScore;
  matched: ConditionScore | null;
  unmatched: ConditionScore | null;
}

/** Unweighted average recall (mean recall over the classes present) and weighted average recall (accuracy). */
export function score(rows: PredictionRow[]): Score {
  if (rows.length === 0) return { uar: NaN, war: NaN, n: 0, meanC: null };
  const support = new Map<number, number>();
  const hits = new Map<number, number>();
  let correct = 0;
  let cSum = 0;
  let cCount = 0;
  for (const r of rows) {
    support.set(r.label, (support.get(r.label) ?? 0) + 1);
    if (r.prediction === r.label) {
      hits.set(r.label, (hits.get(r.label) ?? 0) + 1);
      correct++;
    }
    if (r.c !== null) {
      cSum += r.c;
      cCount++;
    }
  }
  let recall = 0;
  for (const [label, n] of support) recall += (hits.get(label) ?? 0) / n;
  return { uar: recall / support.size, war: correct / rows.length, n: rows.length, meanC: cCount > 0 ? cSum / cCount : null };
}

function conditionScore(rows: PredictionRow[]): ConditionScore | null {
  if (rows.length === 0) return null;
  const snrs = [...new Set(rows.map((r) => r.snrDb))];
  if (snrs.length === 1 && snrs[0] === null) return score(rows);
  const perSnr: Record<string, Score> = {};
  for (const snr of snrs.sort((a, b) => (b ?? Infinity) - (a ?? Infinity))) perSnr[String(snr)] = score(rows.filter((r) => r.snrDb === snr));
  const list = Object.values(perSnr);
  const mean = (f: (s: Score) => number) => list.reduce((a, s) => a + f(s), 0) / list.length;
  const cs = list.map((s) => s.meanC).filter((c): c is number => c !== null);
  return { uar: mean((s) => s.uar), war: mean((s) => s.war), n: rows.length, meanC: cs.length > 0 ? cs.reduce((a, b) => a + b, 0) / cs.length : null, perSnr };
}

export function taskMetrics(rows: PredictionRow[]): TaskMetrics {
  return {
    clean: conditionScore(rows.filter((r) => r.condition === 'clean'))!,
    matched: conditionScore(rows.filter((r) => r.condition === 'matched')),
    unmatched: conditionScore(rows.filter((r) => r.condition === 'unmatched')),
  };
}

export interface Stat {
  mean: number;
  /** Sample standard deviation over tasks (0 for one task). */
  std: number;
  n: number;
}

export function stat(values: number[]): Stat {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

export interface TaskResult {
  id: string;
  fold: string;
  seed: number;
  variant: Variant;
  /** The checkpoint chosen by validation UAR (run/best), evaluated in every condition. */
  metrics: TaskMetrics;
  /**
   * The last epoch's checkpoint (run/last), evaluated in every condition too — for the variants with the SNR-aware
   * module only, so that c can be compared between the chosen and the last checkpoints (issue 15). Absent for the
   * other variants and for tasks evaluated before trnet recorded it.
   */
  last?: LastCheckpoint;
}

export interface LastCheckpoint {
  /** The last epoch trained (run/last). */
  epoch: number;
  /** The epoch chosen by validation UAR (run/best). */
  bestEpoch: number;
  /** Metrics of the last checkpoint (the same as the task's when the last epoch is the chosen one). */
  metrics: TaskMetrics;
}

export interface VariantSummary {
  variant: Variant;
  tasks: number;
  clean: { uar: Stat; war: Stat };
  matched: { uar: Stat; war: Stat } | null;
  unmatched: { uar: Stat; war: Stat } | null;
  /** Per condition and SNR: UAR, WAR and mean c over tasks. */
  perSnr: Record<string, Record<string, { uar: Stat; war: Stat; meanC: Stat | null }>>;
  /** Mean c on clean test speech. */
  cleanC: Stat | null;
  /**
   * The same aggregates for the last epoch's checkpoints, over the tasks that recorded one (see TaskResult.last);
   * absent when none did.
   */
  last?: Omit<VariantSummary, 'last'> & { epoch: Stat; bestEpoch: Stat };
}

export function summarise(tasks: TaskResult[], variants: Variant[]): VariantSummary[] {
  return variants
    .map((variant) => {
      const mine = tasks.filter((t) => t.variant === variant);
      const pair = (pick: (m: TaskMetrics) => ConditionScore | null) => {
        const scores = mine.map((t) => pick(t.metrics)).filter((s): s is ConditionScore => s !== null);
        return scores.length === 0 ? null : { uar: stat(scores.map((s) => s.uar)), war: stat(scores.map((s) => s.war)) };
      };
      const perSnr: VariantSummary['perSnr'] = {};
      for (const condition of ['matched', 'unmatched'] as const) {
        const snrs = new Set(mine.flatMap((t) => Object.keys(t.metrics[condition]?.perSnr ?? {})));
        if (snrs.size === 0) continue;
        perSnr[condition] = {};
        for (const snr of snrs) {
          const s = mine.map((t) => t.metrics[condition]?.perSnr?.[snr]).filter((x): x is Score => x !== undefined);
          const cs = s.map((x) => x.meanC).filter((c): c is number => c !== null);
          perSnr[condition][snr] = { uar: stat(s.map((x) => x.uar)), war: stat(s.map((x) => x.war)), meanC: cs.length > 0 ? stat(cs) : null };
        }
      }
      const cleanCs = mine.map((t) => t.metrics.clean.meanC).filter((c): c is number => c !== null);
      return {
        variant,
        tasks: mine.length,
        clean: pair((m) => m.clean)!,
        matched: pair((m) => m.matched),
        unmatched: pair((m) => m.unmatched),
        perSnr,
        cleanC: cleanCs.length > 0 ? stat(cleanCs) : null,
        ...lastSummary(variant, mine),
      };
    })
    .filter((s) => s.tasks > 0);
}

/** The last checkpoints' aggregates (the same statistics over `TaskResult.last.metrics`), if any task has them. */
function lastSummary(variant: Variant, mine: TaskResult[]): Pick<VariantSummary, 'last'> {
  const withLast = mine.filter((t): t is TaskResult & { last: LastCheckpoint } => t.last !== undefined);
  if (withLast.length === 0) return {};
  const [body] = summarise(
    withLast.map((t) => ({ id: t.id, fold: t.fold, seed: t.seed, variant: t.variant, metrics: t.last.metrics })),
    [variant],
  );
  return { last: { ...body!, epoch: stat(withLast.map((t) => t.last.epoch)), bestEpoch: stat(withLast.map((t) => t.last.bestEpoch)) } };
}

const csvField = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

export function predictionsCsv(rows: PredictionRow[], classes: string[]): string {
  const header = ['utterance', 'speaker', 'fold', 'seed', 'variant', 'condition', 'snr_db', 'label', 'prediction', ...classes.map((c) => `p_${c}`), 'c'];
  const lines = rows.map((r) =>
    [
      r.utterance,
      r.speaker,
      r.fold,
      String(r.seed),
      r.variant,
      r.condition,
      r.snrDb === null ? '' : String(r.snrDb),
      classes[r.label]!,
      classes[r.prediction]!,
      ...r.probs.map((p) => p.toPrecision(6)),
      r.c === null ? '' : r.c.toPrecision(6),
    ]
      .map(csvField)
      .join(','),
  );
  return `${[header.join(','), ...lines].join('\n')}\n`;
}

/** Reads predictions.csv back (the inverse of predictionsCsv; used to check the tables against the rows). */
export function parsePredictionsCsv(text: string, classes: string[]): PredictionRow[] {
  const [header, ...lines] = text.trimEnd().split('\n');
  const cols = header!.split(',');
  const at = (name: string) => cols.indexOf(name);
  return lines.map((line) => {
    const f = line.split(',');
    return {
      utterance: f[at('utterance')]!,
      speaker: f[at('speaker')]!,
      fold: f[at('fold')]!,
      seed: Number(f[at('seed')]),
      variant: f[at('variant')] as Variant,
      condition: f[at('condition')] as Condition,
      snrDb: f[at('snr_db')] === '' ? null : Number(f[at('snr_db')]),
      label: classes.indexOf(f[at('label')]!),
      prediction: classes.indexOf(f[at('prediction')]!),
      probs: classes.map((c) => Number(f[at(`p_${c}`)])),
      c: f[at('c')] === '' ? null : Number(f[at('c')]),
    };
  });
}

/** Display names of the variants, as in the paper's Table 1. */
export const NAMES: Record<Variant, string> = {
  'baseline-c': 'Baseline-c',
  'baseline-n': 'Baseline-n',
  'baseline-e': 'Baseline-e',
  trnet: 'TRNet',
  'trnet-no-low': 'TRNet w/o L_low',
  'trnet-no-high': 'TRNet w/o L_high',
};

const pct = (s: Stat | undefined | null) => (!s || Number.isNaN(s.mean) ? '–' : `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}`);
const num = (s: Stat | undefined | null) => (!s || Number.isNaN(s.mean) ? '–' : `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}`);

export interface ReportInput {
  title: string;
  environments: { matched: string; unmatched: string | null };
  snrsDb: number[];
  folds: number;
  seeds: number[];
  summary: VariantSummary[];
  tasksDone: number;
  tasksTotal: number;
  /** Per-task results, for the paired tests and the spread (see significance.ts). */
  tasks: TaskResult[];
}

/** RESULTS.md: the Table-1-style table, UAR per SNR, and mean c per environment and SNR. */
export function resultsMarkdown(r: ReportInput): string {
  const out: string[] = [];
  out.push(`# ${r.title}`, '');
  out.push(
    `${r.tasksDone} of ${r.tasksTotal} tasks finished; ${r.folds} fold(s) × ${r.seeds.length} seed(s) (${r.seeds.join(', ')}). Values are mean ± sample std over folds and seeds, in %. Noisy columns average the SNRs ${r.snrsDb.join(', ')} dB (as the paper's Table 1).`,
    '',
  );
  const unmatched = r.environments.unmatched;
  out.push(`## Table 1: clean / matched (${r.environments.matched}) / unmatched (${unmatched ?? 'none'})`, '');
  out.push('| Method | Clean UAR | Clean WAR | Matched UAR | Matched WAR | Unmatched UAR | Unmatched WAR |', '|---|---|---|---|---|---|---|');
  for (const s of r.summary)
    out.push(
      `| ${NAMES[s.variant]} | ${pct(s.clean.uar)} | ${pct(s.clean.war)} | ${pct(s.matched?.uar)} | ${pct(s.matched?.war)} | ${pct(s.unmatched?.uar)} | ${pct(s.unmatched?.war)} |`,
    );
  out.push('');
  for (const condition of ['matched', 'unmatched'] as const) {
    const env = condition === 'matched' ? r.environments.matched : unmatched;
    if (!env) continue;
    out.push(`## UAR per SNR, ${condition} noise (${env})`, '');
    out.push(`| Method | ${r.snrsDb.map((s) => `${s} dB`).join(' | ')} |`, `|---|${r.snrsDb.map(() => '---').join('|')}|`);
    for (const s of r.summary) out.push(`| ${NAMES[s.variant]} | ${r.snrsDb.map((snr) => pct(s.perSnr[condition]?.[String(snr)]?.uar)).join(' | ')} |`);
    out.push('');
  }
  const withC = r.summary.filter((s) => s.cleanC !== null);
  if (withC.length > 0) {
    out.push("## Mean noise-level estimate c (the data of the paper's Fig. 2)", '');
    out.push(`| Method | Environment | clean | ${r.snrsDb.map((s) => `${s} dB`).join(' | ')} |`, `|---|---|---|${r.snrsDb.map(() => '---').join('|')}|`);
    for (const s of withC) {
      for (const condition of ['matched', 'unmatched'] as const) {
        const env = condition === 'matched' ? r.environments.matched : unmatched;
        if (!env || !s.perSnr[condition]) continue;
        out.push(`| ${NAMES[s.variant]} | ${env} | ${num(s.cleanC)} | ${r.snrsDb.map((snr) => num(s.perSnr[condition]?.[String(snr)]?.meanC)).join(' | ')} |`);
      }
    }
    out.push('');
  }
  out.push(...significanceMarkdown(r));
  return out.join('\n');
}

/** The comparisons Table 1 is read for: TRNet against each other variant, per condition. */
const COMPARED: [Variant, Condition[]][] = [
  ['baseline-c', ['clean', 'matched', 'unmatched']],
  ['baseline-n', ['clean', 'matched', 'unmatched']],
  ['baseline-e', ['clean', 'matched', 'unmatched']],
  ['trnet-no-low', ['clean', 'matched', 'unmatched']],
  ['trnet-no-high', ['clean', 'matched', 'unmatched']],
];

/** Paired t-tests of TRNet against the others over (fold, seed), and each variant's fold and seed spread. */
function significanceMarkdown(r: ReportInput): string[] {
  const variants = new Set(r.tasks.map((t) => t.variant));
  if (!variants.has('trnet')) return [];
  const conditions: Condition[] = r.environments.unmatched ? ['clean', 'matched', 'unmatched'] : ['clean', 'matched'];
  const out = ['## Is the difference larger than the spread?', ''];
  out.push(
    'TRNet minus each other variant, UAR points, paired over the (fold, seed) tasks both finished (same test speakers and noise draws): mean difference, Student t, degrees of freedom, two-sided p.',
    '',
  );
  out.push(`| TRNet − | ${conditions.join(' | ')} |`, `|---|${conditions.map(() => '---').join('|')}|`);
  for (const [other, wanted] of COMPARED) {
    if (!variants.has(other)) continue;
    const cells = conditions.map((c) => {
      if (!wanted.includes(c)) return '';
      const t = pairedTest(r.tasks, 'trnet', other, c);
      if (t.n < 2) return t.n === 1 ? `${signed(t.meanDiff)} (1 pair)` : '–';
      return `${signed(t.meanDiff)} (t = ${t.t.toFixed(2)}, df ${t.df}, p = ${pValue(t.p)})`;
    });
    out.push(`| ${NAMES[other]} | ${cells.join(' | ')} |`);
  }
  out.push('', 'Spread of UAR (points): standard deviation over folds of the per-fold means, and over seeds within a fold (pooled; – with one seed).', '');
  out.push(`| Method | ${conditions.map((c) => `${c}: folds | ${c}: seeds`).join(' | ')} |`, `|---|${conditions.map(() => '---|---').join('|')}|`);
  for (const s of r.summary) {
    const cells = conditions.map((c) => {
      const sp = spread(r.tasks, s.variant, c);
      return `${points(sp.folds)} | ${points(sp.seeds)}`;
    });
    out.push(`| ${NAMES[s.variant]} | ${cells.join(' | ')} |`);
  }
  out.push('');
  return out;
}

function signed(x: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}`;
}

function points(x: number): string {
  return Number.isNaN(x) ? '–' : (100 * x).toFixed(1);
}

function pValue(p: number): string {
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

/** The Table-1 rows as plain text for a terminal. */
export function table1Text(summary: VariantSummary[]): string {
  const rows = [
    ['Method', 'Clean UAR', 'Clean WAR', 'Matched UAR', 'Matched WAR', 'Unmatched UAR', 'Unmatched WAR'],
    ...summary.map((s) => [
      NAMES[s.variant],
      pct(s.clean.uar),
      pct(s.clean.war),
      pct(s.matched?.uar),
      pct(s.matched?.war),
      pct(s.unmatched?.uar),
      pct(s.unmatched?.war),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}
