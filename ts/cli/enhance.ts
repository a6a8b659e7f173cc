/** `trnet enhance`: run an SE front end over audio files and write the enhanced audio as WAV. */
import { accessSync, constants, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { type EnhancerOptions, enhanceBatch, isTrnetError, loadAudioBatch, writeWav } from '../index.js';
import { ENHANCER_OPTIONS } from '../validate.js';
import { UsageError } from './usage.js';

export interface EnhanceCommand {
  inputs: string[];
  outDir: string;
  /** One output path per input, from `planOutputs`. */
  outputs: string[];
  enhancer: EnhancerOptions;
  json: boolean;
}

const outputName = (input: string) => `${basename(input, extname(input))}.enhanced.wav`;

/**
 * Where each input's result goes, so that no two results share a file: DIR/<name>.enhanced.wav while the
 * names are distinct; when two inputs share a name (a/x.flac, b/x.flac), every output mirrors its input's
 * folder below the inputs' common parent (DIR/a/x.enhanced.wav, DIR/b/x.enhanced.wav). Inputs that still
 * clash (the same file twice, x.wav beside x.flac) are a usage error naming them.
 */
export function planOutputs(inputs: string[], outDir: string): string[] {
  const flat = inputs.map((i) => join(outDir, outputName(i)));
  if (new Set(flat).size === flat.length) return flat;
  const absolute = inputs.map((i) => resolve(i));
  const within = (parent: string, child: string) => {
    const r = relative(parent, child);
    return r === '' || (!r.startsWith('..') && !isAbsolute(r));
  };
  const common = absolute.map(dirname).reduce((a, b) => {
    while (!within(a, b)) a = dirname(a);
    return a;
  });
  const mirrored = absolute.map((a) => join(outDir, relative(common, dirname(a)), outputName(a)));
  const byOutput = new Map<string, string[]>();
  for (const [i, o] of mirrored.entries()) byOutput.set(o, [...(byOutput.get(o) ?? []), inputs[i]!]);
  const clashes = [...byOutput.entries()].filter(([, ins]) => ins.length > 1);
  if (clashes.length > 0) {
    const list = clashes.map(([o, ins]) => `  ${ins.join(', ')} -> ${o}`).join('\n');
    throw new UsageError(
      `enhance: these inputs would write the same output file:\n${list}\nPass each file once, and enhance files that differ only in extension in separate runs.`,
    );
  }
  return mirrored;
}

/** The enhancer options the flags make (an unknown --kind, a missing --model), checked before any work. */
export function checkEnhancer(enhancer: EnhancerOptions): void {
  try {
    ENHANCER_OPTIONS(enhancer, 'enhancer');
  } catch (e) {
    throw new UsageError(
      `enhance: ${(e as Error).message.replace(/^enhancer\.(\w+)/, (_, k: string) => `--${k === 'cacheDir' ? 'cache' : k === 'intraThreads' ? 'threads' : k}`)}`,
    );
  }
  if ((enhancer.kind === 'gtcrn' || enhancer.kind === 'cmgan') && !enhancer.model) throw new UsageError(`enhance: --kind ${enhancer.kind} needs --model FILE`);
  if (enhancer.kind === 'card' && !enhancer.card) throw new UsageError('enhance: --kind card needs --card FILE');
}

/**
 * Makes sure results can be written to `dir` before anything runs: an existing folder, or one created here
 * level by level below its nearest existing ancestor (not mkdir -p: Node's recursive mkdir loops forever on
 * some special file systems such as /proc), and then proved writable by writing a probe file.
 */
export function prepareOutDir(dir: string): void {
  const fail = (why: string) => new UsageError(`--out ${dir}: ${why}`);
  const missing: string[] = [];
  let at = resolve(dir);
  while (!existsSync(at)) {
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  if (existsSync(at) && !statSync(at).isDirectory()) throw fail(`${at} is not a folder`);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      throw fail(`cannot create ${d} (${(e as Error).message})`);
    }
  }
  const probe = join(resolve(dir), `.trnet-write-probe-${process.pid}`);
  try {
    accessSync(resolve(dir), constants.W_OK);
    writeFileSync(probe, '');
  } catch (e) {
    throw fail(`cannot write there (${(e as Error).message})`);
  } finally {
    rmSync(probe, { force: true });
  }
}

/** Writes every file that could be enhanced; reports the others. Exit code 1 if any failed. */
export async function enhanceFiles(cmd: EnhanceCommand, out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  const bar = (stage: string) => (p: { done: number; total: number }) => {
    if (err.isTTY) err.write(`\r${stage} ${p.done}/${p.total}${p.done === p.total ? '\n' : ''}`);
  };
  const decoded = await loadAudioBatch(cmd.inputs, {}, { onProgress: bar('decoding') });
  const ok = decoded.map((d, i) => ({ ...d, index: i })).filter((d) => d.samples);
  const enhanced = await enhanceBatch(
    ok.map((d) => d.samples!),
    cmd.enhancer,
    { onProgress: bar('enhancing') },
  );
  const report: { index: number; input: string; output?: string; cached?: boolean; error?: { code: string; message: string } }[] = [];
  decoded.forEach((d, index) => {
    if (d.error) report.push({ index, input: d.path, error: d.error });
  });
  enhanced.forEach((item, i) => {
    const { path: input, index } = ok[i]!;
    if (!item.samples) {
      report.push({ index, input, error: item.error! });
      return;
    }
    const output = cmd.outputs[index]!;
    try {
      mkdirSync(dirname(output), { recursive: true });
      writeWav(output, item.samples);
      report.push({ index, input, output, cached: item.cached });
    } catch (e) {
      report.push({ index, input, error: { code: isTrnetError(e) ? e.code : 'TRNET_IO', message: (e as Error).message ?? String(e) } });
    }
  });
  report.sort((a, b) => a.index - b.index);
  const rows = report.map(({ index: _, ...r }) => r);
  if (cmd.json) out.write(`${JSON.stringify(rows, null, 2)}\n`);
  else
    for (const r of rows)
      out.write(r.error ? `FAIL  ${r.input}: [${r.error.code}] ${r.error.message}\n` : `ok    ${r.input} -> ${r.output}${r.cached ? ' (cached)' : ''}\n`);
  return rows.some((r) => r.error) ? 1 : 0;
}
