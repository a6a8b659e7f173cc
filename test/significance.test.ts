/**
 * The paired t-test and spread behind RESULTS.md's "Is the difference larger than the spread?" section: Student-t
 * p-values against textbook critical values, and the test and spread on task results with known answers.
 */
import { describe, expect, it } from 'vitest';
import type { TaskMetrics, TaskResult } from '../ts/experiment/results.js';
import { resultsMarkdown, summarise } from '../ts/experiment/results.js';
import { incompleteBeta, logGamma, pairedTest, spread, twoSidedP } from '../ts/experiment/significance.js';
import type { Variant } from '../ts/train.js';

function task(variant: Variant, fold: string, seed: number, clean: number, matched: number): TaskResult {
  const score = (uar: number) => ({ uar, war: uar, n: 10, meanC: null });
  const metrics: TaskMetrics = { clean: score(clean), matched: score(matched), unmatched: null };
  return { id: `${fold}/seed-${seed}/${variant}`, fold, seed, variant, metrics };
}

describe('Student t', () => {
  it('ln Γ and the incomplete beta have their known values', () => {
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    expect(logGamma(10.5)).toBeCloseTo(13.940625219403763, 10);
    // I_x(1, 1) = x; I_x(a, b) + I_{1−x}(b, a) = 1.
    expect(incompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 12);
    expect(incompleteBeta(0.2, 2.5, 0.5) + incompleteBeta(0.8, 0.5, 2.5)).toBeCloseTo(1, 12);
  });

  it('two-sided p matches the t table', () => {
    // Two-sided 5 % critical values of Student's t for df 1, 3, 4, 10, 30.
    for (const [t, df] of [
      [12.706205, 1],
      [3.182446, 3],
      [2.776445, 4],
      [2.228139, 10],
      [2.042272, 30],
    ] as const)
      expect(twoSidedP(t, df)).toBeCloseTo(0.05, 5);
    expect(twoSidedP(5.840909, 3)).toBeCloseTo(0.01, 5);
    expect(twoSidedP(1, 1)).toBeCloseTo(0.5, 12); // Cauchy: P(|T| > 1) = 1/2
    expect(twoSidedP(0, 7)).toBe(1);
    expect(twoSidedP(-2.776445, 4)).toBeCloseTo(0.05, 5);
    expect(twoSidedP(1.959964, 1e7)).toBeCloseTo(0.05, 4); // the normal limit
    expect(twoSidedP(Infinity, 3)).toBe(0);
    expect(twoSidedP(Number.NaN, 3)).toBeNaN();
  });
});

describe('paired test and spread over tasks', () => {
  const tasks = [
    task('trnet', 'f1', 1, 0.6, 0.5),
    task('trnet', 'f2', 1, 0.7, 0.55),
    task('trnet', 'f3', 1, 0.5, 0.45),
    task('trnet', 'f4', 1, 0.9, 0.9), // no Baseline-n partner: left out of the pairs
    task('baseline-n', 'f1', 1, 0.5, 0.4),
    task('baseline-n', 'f2', 1, 0.65, 0.5),
    task('baseline-n', 'f3', 1, 0.5, 0.3),
  ];

  it('pairs by fold and seed and gives the textbook t', () => {
    const r = pairedTest(tasks, 'trnet', 'baseline-n', 'matched');
    // differences 0.1, 0.05, 0.15: mean 0.1, sd 0.05, t = 0.1 / (0.05/√3) = 3.4641
    expect(r.n).toBe(3);
    expect(r.df).toBe(2);
    expect(r.meanDiff).toBeCloseTo(0.1, 12);
    expect(r.sdDiff).toBeCloseTo(0.05, 12);
    expect(r.t).toBeCloseTo(2 * Math.sqrt(3), 10);
    // df 2: p = 1 − t/√(t² + 2) exactly.
    expect(r.p).toBeCloseTo(1 - r.t / Math.sqrt(r.t * r.t + 2), 10);
    expect(pairedTest(tasks, 'trnet', 'baseline-n', 'unmatched').n).toBe(0);
  });

  it('separates the fold-to-fold from the seed-to-seed spread', () => {
    const seeds = [task('trnet', 'f1', 1, 0.5, 0), task('trnet', 'f1', 2, 0.7, 0), task('trnet', 'f2', 1, 0.8, 0), task('trnet', 'f2', 2, 0.8, 0)];
    const sp = spread(seeds, 'trnet', 'clean');
    // fold means 0.6 and 0.8 → sd 0.1414; seeds: f1 0.5 / 0.7 (ss 0.02, 1 dof), f2 0.8 / 0.8 (ss 0, 1 dof) → √(0.02/2).
    expect(sp.folds).toBeCloseTo(Math.SQRT2 / 10, 12);
    expect(sp.seeds).toBeCloseTo(0.1, 12);
    expect(spread(tasks, 'trnet', 'clean').seeds).toBeNaN();
  });

  it('RESULTS.md carries the comparison and the spread', () => {
    const md = resultsMarkdown({
      title: 't',
      environments: { matched: 'ESC-50', unmatched: null },
      snrsDb: [0],
      folds: 4,
      seeds: [1],
      summary: summarise(tasks, ['baseline-n', 'trnet']),
      tasksDone: tasks.length,
      tasksTotal: tasks.length,
      tasks,
    });
    expect(md).toContain('## Is the difference larger than the spread?');
    expect(md).toMatch(/\| Baseline-n \| \+[\d.]+ \(t = [\d.]+, df 2, p = [\d.]+\) \| \+10\.0 \(t = 3\.46, df 2, p = 0\.074\) \|/);
  });
});
