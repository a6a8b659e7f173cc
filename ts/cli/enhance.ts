/** `trnet enhance`: run an SE front end over audio files and write the enhanced audio as WAV. */
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { enhanceBatch, loadAudioBatch, writeWav, type EnhancerOptions } from '../index.js';

export interface EnhanceCommand {
  inputs: string[];
  outDir: string;
  enhancer: EnhancerOptions;
  json: boolean;
}

/** Writes every file that could be enhanced; reports the others. Exit code 1 if any failed. */
export async function enhanceFiles(cmd: EnhanceCommand, out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  mkdirSync(cmd.outDir, { recursive: true });
  const bar = (stage: string) => (p: { done: number; total: number }) => {
    if (err.isTTY) err.write(`\r${stage} ${p.done}/${p.total}${p.done === p.total ? '\n' : ''}`);
  };
  const decoded = await loadAudioBatch(cmd.inputs, {}, { onProgress: bar('decoding') });
  const ok = decoded.filter((d) => d.samples);
  const enhanced = await enhanceBatch(ok.map((d) => d.samples!), cmd.enhancer, { onProgress: bar('enhancing') });
  const report: { input: string; output?: string; cached?: boolean; error?: { code: string; message: string } }[] = [];
  for (const d of decoded) {
    if (d.error) report.push({ input: d.path, error: d.error });
  }
  enhanced.forEach((item, i) => {
    const input = ok[i]!.path;
    if (!item.samples) return report.push({ input, error: item.error! });
    const output = join(cmd.outDir, `${basename(input, extname(input))}.enhanced.wav`);
    try {
      writeWav(output, item.samples);
      report.push({ input, output, cached: item.cached });
    } catch (e) {
      report.push({ input, error: { code: (e as { code?: string }).code ?? 'TRNET_IO', message: String(e) } });
    }
  });
  report.sort((a, b) => cmd.inputs.indexOf(a.input) - cmd.inputs.indexOf(b.input));
  if (cmd.json) out.write(JSON.stringify(report, null, 2) + '\n');
  else for (const r of report) out.write(r.error ? `FAIL  ${r.input}: [${r.error.code}] ${r.error.message}\n` : `ok    ${r.input} -> ${r.output}${r.cached ? ' (cached)' : ''}\n`);
  return report.some((r) => r.error) ? 1 : 0;
}
