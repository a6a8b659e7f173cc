// report.html: a tiny real experiment on ../shared is reported, the page is opened in headless Chromium (Debian's
// package, installed by scripts/ensure-chromium.sh when missing) and the screenshot is checked for drawn figures; a
// missing folder is refused with a code and a partial one is reported with its missing tasks named.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExperimentConfig, type ExperimentResult, report, train } from '../ts/index.js';
import { EMBEDDINGS_DATA, EMBEDDINGS_INDEX, type EmbeddingIndex, readEmbeddings } from '../ts/report/embeddings.js';
import { REPORT_TITLES } from '../ts/report/html.js';
import { TSNE_SETTINGS } from '../ts/report/tsne.js';
import { repoRoot, tinyExperiment } from './shared.js';

const work = mkdtempSync(join(tmpdir(), 'trnet-report-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// The same tiny experiment as test/experiment.test.ts: RAVDESS 6 actors, ESC-50 fold 4 matched, Speech Commands
// noise unmatched, 2 folds × 1 seed × all six variants, a narrow model, 2 epochs, 100 frames.
const config = (outDir: string): ExperimentConfig => tinyExperiment(outDir, join(work, 'store'));

let browser: string;
let run: ExperimentResult;

const svgCount = (html: string) => (html.match(/<svg[\s>]/g) ?? []).length;

/** Renders `file` in headless Chromium at 1400 × height and decodes the screenshot. */
function screenshot(file: string, height: number): PNG {
  const png = join(work, `shot-${Math.random().toString(36).slice(2)}.png`);
  execFileSync(
    browser,
    ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--screenshot=${png}`, `--window-size=1400,${height}`, `file://${file}`],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 },
  );
  return PNG.sync.read(readFileSync(png));
}

/** Per horizontal band: how many pixels are not white, and how many are clearly coloured (plot marks, not text). */
function bands(img: PNG, bandHeight: number): { ink: number; colour: number }[] {
  const out: { ink: number; colour: number }[] = [];
  for (let y0 = 0; y0 < img.height; y0 += bandHeight) {
    let ink = 0;
    let colour = 0;
    for (let y = y0; y < Math.min(img.height, y0 + bandHeight); y++) {
      for (let x = 0; x < img.width; x++) {
        const i = 4 * (y * img.width + x);
        const r = img.data[i]!;
        const g = img.data[i + 1]!;
        const b = img.data[i + 2]!;
        if (r < 245 || g < 245 || b < 245) ink++;
        if (Math.max(r, g, b) - Math.min(r, g, b) > 60) colour++;
      }
    }
    out.push({ ink, colour });
  }
  return out;
}

/** The float32 tensors of a safetensors file by name (header: 8-byte little-endian length, then JSON). */
function safetensors(file: string): Map<string, Float32Array> {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const out = new Map<string, Float32Array>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || t.dtype !== 'F32') continue;
    const bytes = buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
    out.set(name, new Float32Array(Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(4 * i))));
  }
  return out;
}

beforeAll(async () => {
  browser = execFileSync('bash', [join(repoRoot, 'scripts/ensure-chromium.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  }).trim();
  run = await train(config(join(work, 'run')));
}, 900_000);

describe('report.html', () => {
  it('is written with the table, every figure as inline SVG and no external resources', () => {
    expect(run.tasks.length).toBe(12);
    expect(run.files.html).toBe(join(run.dir, 'report.html'));
    const html = readFileSync(run.files.html, 'utf8');
    for (const title of Object.values(REPORT_TITLES)) expect(html).toContain(title);
    // Fig. 2, UAR vs SNR, confusion matrices, training loss, validation UAR, Fig. 3: one <svg> each, in that order.
    expect(svgCount(html)).toBe(6);
    const order = [
      REPORT_TITLES.table,
      REPORT_TITLES.fig2,
      REPORT_TITLES.uar,
      REPORT_TITLES.confusion,
      REPORT_TITLES.loss,
      REPORT_TITLES.valUar,
      REPORT_TITLES.fig3,
    ].map((t) => html.indexOf(t));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // Table 1 first, one row per variant, with the Baseline-c clean UAR of results.json.
    const table = html.slice(html.indexOf(REPORT_TITLES.table), html.indexOf(REPORT_TITLES.fig2));
    for (const name of ['Baseline-c', 'Baseline-n', 'Baseline-e', 'TRNet', 'TRNet w/o L_low', 'TRNet w/o L_high'])
      expect(table).toContain(`<th scope="row">${name}</th>`);
    const baselineC = run.summary.find((s) => s.variant === 'baseline-c')!;
    expect(table).toContain(`${(100 * baselineC.clean.uar.mean).toFixed(2)} ± ${(100 * baselineC.clean.uar.std).toFixed(2)}`);
    // Fig. 2 plots only the variants with c; the UAR figure every variant.
    const fig2 = html.slice(html.indexOf(REPORT_TITLES.fig2), html.indexOf(REPORT_TITLES.uar));
    expect(fig2).toContain('TRNet w/o L_high');
    expect(fig2).not.toContain('Baseline-n');
    expect(fig2).toContain('matched: esc50');
    expect(fig2).toContain('unmatched: speech-commands');
    // The numbers behind Fig. 2: TRNet's mean c on clean speech, as results.json has it.
    const trnetC = run.summary.find((s) => s.variant === 'trnet')!.cleanC!;
    expect(fig2).toContain(`${trnetC.mean.toFixed(3)} ± ${trnetC.std.toFixed(3)}`);
    // Fig. 2's second row: the last epoch's checkpoint of the same tasks, with the sentence saying which row is which,
    // and its numbers as results.json has them.
    expect(fig2).toContain('Top row (“chosen epoch”): the checkpoint chosen by validation UAR (<code>run/best</code>');
    expect(fig2).toContain('last epoch’s checkpoint');
    const trnetLast = run.summary.find((s) => s.variant === 'trnet')!.last!;
    expect(trnetLast.tasks).toBe(2);
    expect(fig2).toContain(`TRNet (last epoch)`);
    expect(fig2).toContain(`${trnetLast.cleanC!.mean.toFixed(3)} ± ${trnetLast.cleanC!.std.toFixed(3)}`);
    // Fig. 3: drawn, with its three panels and the t-SNE settings written under it.
    const fig3 = html.slice(html.indexOf(REPORT_TITLES.fig3));
    expect(svgCount(fig3)).toBe(1);
    for (const panel of ['Clean reference (frozen Baseline-c), clean speech', 'Baseline-n', 'TRNet']) expect(fig3).toContain(panel);
    expect(fig3).toContain(
      `t-SNE settings: @saehrimnir/druidjs ${TSNE_SETTINGS.version} (exact t-SNE), seed ${TSNE_SETTINGS.seed}, ${TSNE_SETTINGS.iterations} iterations, learning rate ${TSNE_SETTINGS.learningRate}`,
    );
    expect(fig3).toMatch(/TRNet: \d+ points, perplexity \d+, representation h~ of epoch \d/);
    expect(fig3).not.toContain('Fig. 3 needs embeddings');
    // Self-contained: no scripts, stylesheets, images or fetches (SVG namespaces are not fetched).
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|@import/i);
    expect(html.replace(/xmlns(:xlink)?="http:\/\/www\.w3\.org\/[^"]*"/g, '')).not.toMatch(/https?:\/\//);
    expect(html).not.toContain('Partial run');
    // Inline SVGs share one document: their clip-path and gradient ids must not collide, or url(#id) would point
    // into another figure.
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(5);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('renders in headless Chromium with the figures drawn down the page', () => {
    const img = screenshot(run.files.html, 4000);
    expect([img.width, img.height]).toEqual([1400, 4000]);
    // (The first 4000 px: Fig. 3 is below them and has a test of its own.)
    const b = bands(img, 250);
    const inked = b.filter((x) => x.ink > 500).length;
    const coloured = b.filter((x) => x.colour > 300).length;
    // 16 bands of 250 px: the table and the five figures fill most of them, and the plots' coloured marks (lines,
    // error bars, confusion cells) appear in several; a page whose SVGs failed to draw would have only text.
    // (Measured: all 16 inked, 11 coloured — 13 since Fig. 2 has its last-epoch row; the same page with its SVGs removed: 5 inked, 0 coloured.)
    expect(inked).toBeGreaterThanOrEqual(12);
    expect(coloured).toBeGreaterThanOrEqual(8);
    // The page is not one uniform colour anywhere near the top (the table) either.
    expect(b[0]!.ink).toBeGreaterThan(2000);
  }, 180_000);

  it('refuses a missing or empty folder with TRNET_EXPERIMENT_NOT_FOUND, also from the CLI', async () => {
    await expect(report(join(work, 'nothing-here'))).rejects.toMatchObject({
      code: 'TRNET_EXPERIMENT_NOT_FOUND',
      message: expect.stringContaining('found nothing'),
    });
    mkdirSync(join(work, 'empty'));
    await expect(report(join(work, 'empty'))).rejects.toMatchObject({
      code: 'TRNET_EXPERIMENT_NOT_FOUND',
      message: expect.stringContaining('a folder without them'),
    });
    expect(existsSync(join(work, 'empty', 'report.html'))).toBe(false);
    const cli = spawnSync(process.execPath, [join(repoRoot, 'bin/trnet.mjs'), 'report', join(work, 'nothing-here')], { encoding: 'utf8' });
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain('expected an experiment folder');
  });

  it('reports a partial run: what finished, and which tasks are missing', async () => {
    const dir = join(work, 'partial');
    cpSync(run.dir, dir, { recursive: true });
    rmSync(join(dir, 'report.html'));
    const gone = run.tasks.find((t) => t.variant === 'trnet')!.id;
    rmSync(join(dir, 'tasks', gone, 'evaluation.json'));
    const partial = await report(dir);
    expect(partial.tasks.length).toBe(11);
    expect(partial.summary.find((s) => s.variant === 'trnet')!.tasks).toBe(1);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('Partial run:</strong> 1 of 12 tasks are missing');
    expect(html).toContain(`<code>${gone}</code> (started)`);
    expect(html).toContain('11 of 12 tasks finished');
    expect(svgCount(html)).toBe(6);
    // The CLI does the same and says where the page is.
    const cli = spawnSync(process.execPath, [join(repoRoot, 'bin/trnet.mjs'), 'report', dir], { encoding: 'utf8' });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toContain(`figures: ${join(dir, 'report.html')}`);
    expect(cli.stdout).toContain('11 of 12 tasks finished');

    // Nothing evaluated yet: the table and result figures say so; the training curves of trained tasks still show.
    for (const t of run.tasks) rmSync(join(dir, 'tasks', t.id, 'evaluation.json'), { force: true });
    await report(dir);
    const none = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(none).toContain('0 of 12 tasks finished');
    expect(none).toContain('No task has finished yet.');
    expect(svgCount(none)).toBe(2);
  }, 120_000);
  it('draws Fig. 3 in headless Chromium: its title and three non-blank t-SNE panels', () => {
    // The Fig. 3 section alone (the page's style kept), so the screenshot shows exactly it.
    const html = readFileSync(run.files.html, 'utf8');
    const start = html.lastIndexOf('<section class="figure">', html.indexOf(REPORT_TITLES.fig3));
    const end = html.indexOf('</section>', start) + '</section>'.length;
    const file = join(work, 'fig3.html');
    writeFileSync(file, `${html.slice(0, html.indexOf('<body>') + 6)}\n${html.slice(start, end)}\n</body></html>\n`);
    const img = screenshot(file, 900);
    const b = bands(img, 50);
    // The title line (h2 at the top) is ink; the panels below hold coloured points.
    expect(b[0]!.ink + b[1]!.ink).toBeGreaterThan(1000);
    expect(b.filter((x) => x.colour > 200).length).toBeGreaterThanOrEqual(4);
    // Three panels side by side: coloured pixels in the left, middle and right thirds of the plot rows.
    const thirds = [0, 0, 0];
    for (let y = 100; y < img.height; y++)
      for (let x = 0; x < img.width; x++) {
        const i = 4 * (y * img.width + x);
        const [r, g, bl] = [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
        if (Math.max(r, g, bl) - Math.min(r, g, bl) > 60 && x < 1100) thirds[Math.min(2, Math.floor(x / 367))]!++;
      }
    // (Measured on the tiny run: 1006, 2281 and 2971 coloured pixels in the thirds; 8 coloured bands; 8484 inked
    // pixels in the top 100 px.)
    for (const t of thirds) expect(t).toBeGreaterThan(300);
  }, 180_000);

  it('saves each task’s representations: count, dimension, and one recomputed through the classifier', () => {
    const task = run.tasks.find((t) => t.variant === 'trnet')!;
    const dir = join(run.dir, 'tasks', task.id);
    const emb = readEmbeddings(dir)!;
    const stored = JSON.parse(readFileSync(join(dir, 'evaluation.json'), 'utf8')) as {
      rows: { utterance: string; condition: string; snrDb: number | null; probs: number[] }[];
    };
    const clean = stored.rows.filter((r) => r.condition === 'clean');
    // Every test utterance clean and in the matched noise at the lowest SNR (0 dB), 16-dimensional (channels' last).
    expect(emb.index.count).toBe(2 * clean.length);
    expect(emb.index.dim).toBe(16);
    expect(emb.values.length).toBe(emb.index.count * 16);
    expect(readFileSync(join(dir, EMBEDDINGS_DATA)).length).toBe(4 * 16 * emb.index.count);
    expect(emb.index.rows.filter((r) => r.condition === 'matched').every((r) => r.snrDb === 0)).toBe(true);
    expect(new Set(emb.index.rows.map((r) => r.utterance))).toEqual(new Set(clean.map((r) => r.utterance)));
    expect([emb.index.representation, emb.index.checkpoint, emb.index.byteOrder]).toEqual(['h~', 'best', 'little-endian']);
    // The classifier of run/best maps a saved representation to the probabilities evaluation.json holds for it.
    const weights = safetensors(join(dir, 'run', 'best', 'model.safetensors'));
    const W = weights.get('classifier.weight')!;
    const bias = weights.get('classifier.bias')!;
    const k = bias.length;
    for (const i of [0, emb.index.count - 1]) {
      const row = emb.index.rows[i]!;
      const e = emb.values.subarray(16 * i, 16 * (i + 1));
      const logits = Array.from({ length: k }, (_, c) => bias[c]! + e.reduce((a, v, j) => a + v * W[c * 16 + j]!, 0));
      const m = Math.max(...logits);
      const z = logits.reduce((a, l) => a + Math.exp(l - m), 0);
      const probs = logits.map((l) => Math.exp(l - m) / z);
      const want = stored.rows.find((r) => r.utterance === row.utterance && r.condition === row.condition && r.snrDb === row.snrDb)!;
      for (let c = 0; c < k; c++) expect(probs[c]).toBeCloseTo(want.probs[c]!, 4);
    }
    // Baseline-n's representation is the encoder's h.
    const bn = run.tasks.find((t) => t.variant === 'baseline-n')!;
    expect((JSON.parse(readFileSync(join(run.dir, 'tasks', bn.id, EMBEDDINGS_INDEX), 'utf8')) as EmbeddingIndex).representation).toBe('h');
  });

  it('records c of the last epoch’s checkpoint for the variants with c', () => {
    const results = JSON.parse(readFileSync(run.files.results, 'utf8')) as ExperimentResult & { tasks: ExperimentResult['tasks'] };
    for (const t of results.tasks) {
      const withC = t.variant === 'trnet' || t.variant === 'trnet-no-low' || t.variant === 'trnet-no-high';
      expect(t.last !== undefined).toBe(withC);
      if (!t.last) continue;
      const stored = JSON.parse(readFileSync(join(run.dir, 'tasks', t.id, 'evaluation.json'), 'utf8')) as { epochsRun: number; best: { epoch: number } };
      expect([t.last.epoch, t.last.bestEpoch]).toEqual([stored.epochsRun, stored.best.epoch]);
      expect(t.last.metrics.matched!.perSnr!['0']!.meanC).toEqual(expect.any(Number));
      // The same checkpoint gives the same numbers; another one was evaluated on its own.
      if (t.last.epoch === t.last.bestEpoch) expect(t.last.metrics).toEqual(t.metrics);
    }
  });

  it('pins the t-SNE library to the version the report names', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies[TSNE_SETTINGS.library]).toBe(TSNE_SETTINGS.version);
    const installed = JSON.parse(readFileSync(join(repoRoot, 'node_modules', TSNE_SETTINGS.library, 'package.json'), 'utf8')) as { version: string };
    expect(installed.version).toBe(TSNE_SETTINGS.version);
  });

  it('reports a run folder from before embeddings with a labelled note, and refuses damaged embeddings with a code', async () => {
    const dir = join(work, 'older');
    cpSync(run.dir, dir, { recursive: true });
    // What an older trnet wrote: no embeddings files, no last-checkpoint metrics.
    for (const t of run.tasks) {
      const taskDir = join(dir, 'tasks', t.id);
      rmSync(join(taskDir, EMBEDDINGS_INDEX));
      rmSync(join(taskDir, EMBEDDINGS_DATA));
      const ev = JSON.parse(readFileSync(join(taskDir, 'evaluation.json'), 'utf8')) as Record<string, unknown>;
      delete ev.last;
      writeFileSync(join(taskDir, 'evaluation.json'), `${JSON.stringify(ev)}\n`);
    }
    const older = await report(dir);
    expect(older.tasks.length).toBe(12);
    expect(older.summary.every((s) => s.last === undefined)).toBe(true);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    const fig3 = html.slice(html.indexOf(REPORT_TITLES.fig3));
    expect(fig3).toContain('Fig. 3 needs embeddings:');
    expect(fig3).toContain('rerun the same <code>trnet train</code> command');
    expect(svgCount(fig3)).toBe(0);
    expect(html).toContain('The last epoch’s checkpoint was not evaluated');
    expect(svgCount(html)).toBe(5);

    // Back to a run with embeddings, one file cut short: a coded error naming it, no half-written page.
    const damaged = join(work, 'damaged');
    cpSync(run.dir, damaged, { recursive: true });
    const task = readdirSync(join(damaged, 'tasks')).sort()[0]!;
    const seedDir = readdirSync(join(damaged, 'tasks', task))[0]!;
    const file = join(damaged, 'tasks', task, seedDir, 'trnet', EMBEDDINGS_DATA);
    truncateSync(file, 10);
    await expect(report(damaged)).rejects.toMatchObject({ code: 'TRNET_EXPERIMENT_CORRUPT', message: expect.stringContaining(file) });
  }, 180_000);
});
