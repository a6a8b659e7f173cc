/** `trnet predict <model> <files…>`: one prediction per file, as a table or JSON lines; a file that fails is reported. */
import { load, type PredictResult } from '../predict.js';

export interface PredictCommandOptions {
  json: boolean;
  allowDifferentEnhancer: boolean;
}

/** Exit code 0 when every file was predicted, 1 when some failed (each reported). The model must load. */
export async function predictCommand(
  modelDir: string,
  files: string[],
  opts: PredictCommandOptions,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const model = await load(modelDir, opts.allowDifferentEnhancer ? { allowDifferentEnhancer: true } : {});
  try {
    // One call per file, so that a bad file fails alone; they run concurrently on the model.
    const results = await Promise.allSettled(files.map((f) => model.predict(f)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (!opts.json) {
      const head = ['file', 'label', ...model.classes, 'c'];
      const rows = results.map((r, i) =>
        r.status === 'fulfilled' ? row(files[i]!, r.value, model.classes) : [files[i]!, 'error', ...model.classes.map(() => ''), ''],
      );
      const widths = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k]!.length)));
      for (const line of [head, ...rows])
        out.write(
          `${line
            .map((cell, k) => (k === 0 ? cell.padEnd(widths[k]!) : cell.padStart(widths[k]!)))
            .join('  ')
            .trimEnd()}\n`,
        );
    }
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        if (opts.json) out.write(`${JSON.stringify({ file: files[i], ...r.value })}\n`);
      } else {
        const e = r.reason as Error & { code?: string };
        if (opts.json) out.write(`${JSON.stringify({ file: files[i], error: { code: e.code ?? 'TRNET_INTERNAL', message: e.message } })}\n`);
        else err.write(`trnet: ${files[i]}: ${e.code ?? 'error'}: ${e.message}\n`);
      }
    });
    return failed > 0 ? 1 : 0;
  } finally {
    model.close();
  }
}

function row(file: string, p: PredictResult, classes: readonly string[]): string[] {
  return [file, p.label, ...classes.map((c) => p.probabilities[c]!.toFixed(4)), p.c === null ? '-' : p.c.toFixed(3)];
}
