/**
 * `trnet predict <model> <files…>`: one prediction per file, as a table or JSON lines; a file that fails is reported.
 * With `--timeline`, one row (or JSON line) per window of each file, silent windows marked.
 */
import { type LoadOptions, load, type Model, type Precision, type PredictResult, type TimelineOptions, type TimelineSegment } from '../predict.js';

export interface PredictCommandOptions {
  json: boolean;
  allowDifferentEnhancer: boolean;
  /** Concurrent native predictions (load's `threads`). */
  threads?: number | undefined;
  /** Number format of the network's convolutions (load's `precision`); default fp32. */
  precision?: Precision | undefined;
  /** Set: a timeline of each file instead of one prediction. */
  timeline?: TimelineOptions | undefined;
}

/** Exit code 0 when every file was predicted, 1 when some failed (each reported). The model must load. */
export async function predictCommand(
  modelDir: string,
  files: string[],
  opts: PredictCommandOptions,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const loadOptions: LoadOptions = {};
  if (opts.allowDifferentEnhancer) loadOptions.allowDifferentEnhancer = true;
  if (opts.threads !== undefined) loadOptions.threads = opts.threads;
  if (opts.precision !== undefined) loadOptions.precision = opts.precision;
  const model = await load(modelDir, loadOptions);
  try {
    // One call per file, so that a bad file fails alone; they run concurrently on the model.
    const timeline = opts.timeline;
    const results: PromiseSettledResult<PredictResult | TimelineSegment[]>[] = await Promise.allSettled(
      files.map((f) => (timeline ? model.timeline(f, timeline) : model.predict(f))),
    );
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (!opts.json) {
      const head = timeline ? ['file', 'start', 'end', 'label', ...model.classes, 'c'] : ['file', 'label', ...model.classes, 'c'];
      const rows = results.flatMap((r, i) => {
        const file = files[i]!;
        const blank = model.classes.map(() => '');
        if (r.status === 'rejected') return [timeline ? [file, '', '', 'error', ...blank, ''] : [file, 'error', ...blank, '']];
        if (!Array.isArray(r.value)) return [row(file, r.value, model)];
        return r.value.map((s) => [file, s.start.toFixed(2), s.end.toFixed(2), ...(s.silent ? ['(silent)', ...blank, ''] : row('', s, model).slice(1))]);
      });
      table(head, rows, out);
    }
    results.forEach((r, i) => {
      const file = files[i]!;
      if (r.status === 'fulfilled') {
        if (!opts.json) return;
        if (Array.isArray(r.value)) for (const s of r.value) out.write(`${JSON.stringify({ file, ...s, levelDb: finiteOrNull(s.levelDb) })}\n`);
        else out.write(`${JSON.stringify({ file, ...r.value })}\n`);
      } else {
        const e = r.reason as Error & { code?: string };
        if (opts.json) out.write(`${JSON.stringify({ file, error: { code: e.code ?? 'TRNET_INTERNAL', message: e.message } })}\n`);
        else err.write(`trnet: ${file}: ${e.code ?? 'error'}: ${e.message}\n`);
      }
    });
    return failed > 0 ? 1 : 0;
  } finally {
    model.close();
  }
}

/** JSON has no -Infinity (digital silence's level): null there. */
const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

function row(file: string, p: PredictResult, model: Model): string[] {
  return [file, p.label, ...model.classes.map((c) => p.probabilities[c]!.toFixed(4)), p.c === null ? '-' : p.c.toFixed(3)];
}

/** The first column left-aligned, the others right-aligned, two spaces apart. */
function table(head: string[], rows: string[][], out: NodeJS.WritableStream): void {
  const widths = head.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? '').length)));
  for (const line of [head, ...rows])
    out.write(
      `${line
        .map((cell, k) => (k === 0 ? cell.padEnd(widths[k]!) : cell.padStart(widths[k]!)))
        .join('  ')
        .trimEnd()}\n`,
    );
}
