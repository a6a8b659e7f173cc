/**
 * The task graph: one task per (fold, seed, variant), each with a stable id and its own folder. Stage 1 is
 * Baseline-c (trained on clean speech); every stage-2 task needs the Baseline-c of its fold and seed as its frozen
 * reference (TRNet and TRNet w/o L_low read it; the others need it only to keep one order everywhere).
 */
import { join } from 'node:path';
import type { Fold } from '../cv/loso.js';
import type { Variant } from '../train.js';
import type { ResolvedConfig } from './config.js';

export interface Task {
  /** `<fold>/seed-<seed>/<variant>`: stable across runs and machines. */
  id: string;
  /** 0-based position in `planTasks` order (stage 1 first), the index a job array runs. */
  index: number;
  stage: 1 | 2;
  fold: Fold;
  seed: number;
  variant: Variant;
  /** Id of the Baseline-c task this one needs, if any. */
  needs: string | null;
  dir: string;
}

export function taskDir(outDir: string, fold: string, seed: number, variant: string): string {
  return join(outDir, 'tasks', fold, `seed-${seed}`, variant);
}

export function planTasks(cfg: ResolvedConfig, folds: Fold[]): Task[] {
  const stage2 = cfg.variants.filter((v) => v !== 'baseline-c');
  const tasks: Omit<Task, 'index'>[] = [];
  for (const fold of folds) {
    for (const seed of cfg.seeds) {
      const id = `${fold.name}/seed-${seed}/baseline-c`;
      tasks.push({ id, stage: 1, fold, seed, variant: 'baseline-c', needs: null, dir: taskDir(cfg.outDir, fold.name, seed, 'baseline-c') });
    }
  }
  for (const fold of folds) {
    for (const seed of cfg.seeds) {
      for (const variant of stage2) {
        tasks.push({
          id: `${fold.name}/seed-${seed}/${variant}`,
          stage: 2,
          fold,
          seed,
          variant,
          needs: `${fold.name}/seed-${seed}/baseline-c`,
          dir: taskDir(cfg.outDir, fold.name, seed, variant),
        });
      }
    }
  }
  return tasks.map((t, index) => ({ ...t, index }));
}
