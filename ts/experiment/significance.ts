/**
 * Is a difference between two variants larger than the spread? Paired t-tests over the (fold, seed) tasks both
 * variants finished — the same test speakers, the same noise draws — and the fold-to-fold and seed-to-seed spread of
 * each variant. These go into RESULTS.md so that a table put beside the paper's says how much it can carry.
 */

import type { Variant } from '../train.js';
import type { Condition, TaskResult } from './results.js';

export interface PairedTest {
  /** Mean of (a − b) over the pairs, UAR in [0, 1]. */
  meanDiff: number;
  /** Sample standard deviation of the differences. */
  sdDiff: number;
  /** Pairs (tasks both variants finished). */
  n: number;
  /** t = meanDiff / (sdDiff / √n); ±Infinity when every difference is the same non-zero value, NaN for n < 2. */
  t: number;
  df: number;
  /** Two-sided p-value from Student's t with df degrees of freedom. */
  p: number;
}

/** UAR of one condition of a task (null when the task has no such condition). */
function uar(t: TaskResult, condition: Condition): number | null {
  return t.metrics[condition]?.uar ?? null;
}

/** Paired t-test of variant `a` against `b` in `condition`, over the (fold, seed) tasks both have. */
export function pairedTest(tasks: TaskResult[], a: Variant, b: Variant, condition: Condition): PairedTest {
  const key = (t: TaskResult) => `${t.fold}\u0000${t.seed}`;
  const of = new Map(tasks.filter((t) => t.variant === b).map((t) => [key(t), t]));
  const diffs: number[] = [];
  for (const ta of tasks) {
    if (ta.variant !== a) continue;
    const tb = of.get(key(ta));
    const [ua, ub] = [uar(ta, condition), tb ? uar(tb, condition) : null];
    if (ua !== null && ub !== null) diffs.push(ua - ub);
  }
  const n = diffs.length;
  const meanDiff = n > 0 ? diffs.reduce((s, d) => s + d, 0) / n : NaN;
  const sdDiff = n > 1 ? Math.sqrt(diffs.reduce((s, d) => s + (d - meanDiff) ** 2, 0) / (n - 1)) : NaN;
  const df = n - 1;
  let t = NaN;
  if (n > 1) t = sdDiff > 0 ? meanDiff / (sdDiff / Math.sqrt(n)) : meanDiff === 0 ? 0 : Math.sign(meanDiff) * Infinity;
  return { meanDiff, sdDiff, n, t, df, p: n > 1 ? twoSidedP(t, df) : NaN };
}

/**
 * Two-sided p of Student's t: P(|T| ≥ |t|) = I_x(df/2, 1/2) with x = df / (df + t²), the regularised incomplete beta.
 */
export function twoSidedP(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return NaN;
  if (!Number.isFinite(t)) return 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** The regularised incomplete beta I_x(a, b), by its continued fraction (modified Lentz), symmetric form for speed. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The fraction converges fast for x < (a + 1) / (a + b + 2); otherwise use I_x(a, b) = 1 − I_{1−x}(b, a).
  if (x < (a + 1) / (a + b + 2)) return (front * betaFraction(x, a, b)) / a;
  return 1 - (front * betaFraction(1 - x, b, a)) / b;
}

function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let f = d;
  for (let m = 1; m <= 300; m++) {
    // Even step, then odd step of the continued fraction's coefficients.
    for (const coef of [(m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)), -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))]) {
      d = 1 + coef * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + coef / c;
      if (Math.abs(c) < tiny) c = tiny;
      f *= c * d;
    }
    if (Math.abs(c * d - 1) < 1e-15) break;
  }
  return f;
}

/** ln Γ(z) for z > 0 (Lanczos, g = 7, 9 terms: ~1e-15 relative). */
export function logGamma(z: number): number {
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * z))) - logGamma(1 - z);
  const x = z - 1;
  let s = g[0]!;
  for (let i = 1; i < 9; i++) s += g[i]! / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(s);
}

export interface Spread {
  /** Standard deviation over folds of the per-fold mean UAR (seeds averaged first). */
  folds: number;
  /** Standard deviation over seeds within a fold, pooled over the folds with more than one seed; NaN with one seed. */
  seeds: number;
}

/** Fold-to-fold and seed-to-seed spread of a variant's UAR in `condition`. */
export function spread(tasks: TaskResult[], variant: Variant, condition: Condition): Spread {
  const byFold = new Map<string, number[]>();
  for (const t of tasks) {
    const u = t.variant === variant ? uar(t, condition) : null;
    if (u === null) continue;
    byFold.set(t.fold, [...(byFold.get(t.fold) ?? []), u]);
  }
  const means = [...byFold.values()].map((v) => v.reduce((s, x) => s + x, 0) / v.length);
  const folds = sd(means);
  let ss = 0;
  let dof = 0;
  for (const v of byFold.values()) {
    if (v.length < 2) continue;
    const m = v.reduce((s, x) => s + x, 0) / v.length;
    ss += v.reduce((s, x) => s + (x - m) ** 2, 0);
    dof += v.length - 1;
  }
  return { folds, seeds: dof > 0 ? Math.sqrt(ss / dof) : NaN };
}

function sd(v: number[]): number {
  if (v.length < 2) return NaN;
  const m = v.reduce((s, x) => s + x, 0) / v.length;
  return Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1));
}
