// report.html: a tiny real experiment on ../shared is reported, the page is opened in headless Chromium (Debian's
// package, installed by scripts/ensure-chromium.sh when missing) and the screenshot is checked for drawn figures; a
// missing folder is refused with a code and a partial one is reported with its missing tasks named.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExperimentConfig, type ExperimentResult, report, train } from '../ts/index.js';
import { REPORT_TITLES } from '../ts/report/html.js';
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
    // Fig. 2, UAR vs SNR, confusion matrices, training loss, validation UAR: one <svg> each, in that order.
    expect(svgCount(html)).toBe(5);
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
    // Fig. 3 is declared missing, not faked.
    expect(html.slice(html.indexOf(REPORT_TITLES.fig3))).toContain('Not available yet');
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
    const b = bands(img, 250);
    const inked = b.filter((x) => x.ink > 500).length;
    const coloured = b.filter((x) => x.colour > 300).length;
    // 16 bands of 250 px: the table and the five figures fill most of them, and the plots' coloured marks (lines,
    // error bars, confusion cells) appear in several; a page whose SVGs failed to draw would have only text.
    // (Measured: all 16 inked, 11 coloured; the same page with its SVGs removed: 5 inked, 0 coloured.)
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
    expect(svgCount(html)).toBe(5);
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
});
