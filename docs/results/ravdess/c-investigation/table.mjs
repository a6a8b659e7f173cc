// Prints the c-investigation tables (markdown) from the run folders that run.sh writes:
//   node table.mjs <base> <option>...      (<base>/<option>/results.json, <base>/last/<option>/results.json)
// Options whose run has not finished are listed as missing rather than left out silently.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [base, ...options] = process.argv.slice(2);
if (!base || options.length === 0) {
  process.stderr.write('usage: node table.mjs <base> <option>...\n');
  process.exit(2);
}
const read = (p) => (existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : null);
const pct = (m) => (m && Number.isFinite(m.mean) ? (100 * m.mean).toFixed(1) : '–');
const c2 = (m) => (m && Number.isFinite(m.mean) ? m.mean.toFixed(2) : '–');

/**
 * TRNet's metrics in a run folder's results.json as summary-shaped rows ({ clean: { uar: { mean } }, perSnr, cleanC }):
 * `fold` one fold's task (the options' common fold), or the mean over every fold (`summary`); null while unfinished.
 */
function trnet(dir, fold) {
  const r = read(join(dir, 'results.json'));
  if (!r || r.tasksDone !== r.tasksTotal) return null;
  if (!fold) return { row: r.summary.find((s) => s.variant === 'trnet'), snrs: r.snrsDb };
  const t = r.tasks.find((x) => x.variant === 'trnet' && x.fold === fold);
  if (!t) return null;
  const m = (v) => ({ mean: v });
  const env = (e) => Object.fromEntries(Object.entries(t.metrics[e]?.perSnr ?? {}).map(([snr, v]) => [snr, { uar: m(v.uar), meanC: m(v.meanC) }]));
  const row = {
    clean: { uar: m(t.metrics.clean.uar) },
    matched: { uar: m(t.metrics.matched.uar) },
    unmatched: { uar: m(t.metrics.unmatched.uar) },
    cleanC: m(t.metrics.clean.meanC),
    perSnr: { matched: env('matched'), unmatched: env('unmatched') },
  };
  return { row, snrs: r.snrsDb };
}

/** The chosen (best-on-validation) epoch of a run's TRNet task on `fold`. */
function bestEpoch(dir, fold) {
  const e = read(join(dir, 'tasks', fold, 'seed-1', 'trnet', 'evaluation.json'));
  return e ? String(e.best?.epoch ?? '?') : '–';
}

const FOLD = 'pair01-Actor_01';
const FOLD2 = 'pair01-Actor_02';

/** The mean of two summary-shaped rows (two folds). */
function meanRow(a, b) {
  const avg = (x, y) => ({ mean: (x.mean + y.mean) / 2 });
  const env = (e) => Object.fromEntries(Object.keys(a.perSnr[e]).map((snr) => [snr, { uar: avg(a.perSnr[e][snr].uar, b.perSnr[e][snr].uar), meanC: avg(a.perSnr[e][snr].meanC, b.perSnr[e][snr].meanC) }]));
  return {
    clean: { uar: avg(a.clean.uar, b.clean.uar) },
    matched: { uar: avg(a.matched.uar, b.matched.uar) },
    unmatched: { uar: avg(a.unmatched.uar, b.unmatched.uar) },
    cleanC: avg(a.cleanC, b.cleanC),
    perSnr: { matched: env('matched'), unmatched: env('unmatched') },
  };
}

/** An option run on the first fold and again on the second (`<option>-fold2`): the mean of the two. */
function twoFolds(name, sub) {
  const a = trnet(join(base, sub, name), FOLD);
  const b = trnet(join(base, sub, `${name}-fold2`), FOLD2);
  return a && b ? { row: meanRow(a.row, b.row), snrs: a.snrs } : null;
}

const runs = options.filter((name) => !name.endsWith('-fold2')).map((name) => ({
  name,
  chosen: trnet(join(base, name), FOLD),
  last: trnet(join(base, 'last', name), FOLD),
  epochs: bestEpoch(join(base, name), FOLD),
}));
// The default also on both folds, for the size of the fold-to-fold spread.
const both = { name: 'default, mean of 2 folds', chosen: trnet(join(base, 'default')), last: trnet(join(base, 'last', 'default')), epochs: '' };
if (both.chosen) runs.splice(1, 0, both);
for (const name of options.filter((n) => n.endsWith('-fold2')).map((n) => n.slice(0, -'-fold2'.length))) {
  const chosen = twoFolds(name, '');
  const at = runs.findIndex((r) => r.name === name);
  if (chosen && at >= 0) runs.splice(at + 1, 0, { name: `${name}, mean of 2 folds`, chosen, last: twoFolds(name, 'last'), epochs: '' });
}
const done = runs.filter((r) => r.chosen);
const snrs = done[0]?.chosen.snrs ?? [20, 15, 10, 5, 0];
const lines = [
  '# c investigation on RAVDESS: the tables',
  '',
  'Written by `bash docs/results/ravdess/c-investigation/run.sh` (this table alone: `node docs/results/ravdess/c-investigation/table.mjs runs/c-investigation <options>`); what the options are and what the numbers say: README.md beside this file.',
  '',
];
lines.push(`UAR % of TRNet on fold ${FOLD} (test actor 1, validation actor 2) unless the row says otherwise; chosen = best validation UAR, last = epoch 10:`, '');
lines.push('| option | clean | matched | unmatched | last: clean | last: matched | last: unmatched | chosen epoch |');
lines.push('|---|---|---|---|---|---|---|---|');
for (const r of done) {
  const l = r.last?.row;
  const x = r.chosen.row;
  lines.push(
    `| ${r.name} | ${pct(x.clean.uar)} | ${pct(x.matched.uar)} | ${pct(x.unmatched.uar)} | ${pct(l?.clean.uar)} | ${pct(l?.matched.uar)} | ${pct(l?.unmatched.uar)} | ${r.epochs} |`,
  );
}
for (const [which, title] of [
  ['chosen', 'Mean c of TRNet, chosen checkpoint'],
  ['last', 'Mean c of TRNet, last checkpoint'],
]) {
  lines.push('', `${title} (clean test speech, then per SNR in dB; ESC = ESC-50, matched; SC = Speech Commands noise, unmatched):`, '');
  lines.push(`| option | clean | ${snrs.map((s) => `ESC ${s}`).join(' | ')} | ${snrs.map((s) => `SC ${s}`).join(' | ')} | ESC 20−0 | SC 20−0 |`);
  lines.push(`|---|---|${snrs.map(() => '---|').join('')}${snrs.map(() => '---|').join('')}---|---|`);
  for (const r of done) {
    const x = r[which]?.row;
    if (!x) {
      lines.push(`| ${r.name} | (not evaluated) |`);
      continue;
    }
    const per = (env) => snrs.map((s) => c2(x.perSnr[env]?.[s]?.meanC));
    const spread = (env) => {
      const hi = x.perSnr[env]?.[Math.max(...snrs)]?.meanC?.mean;
      const lo = x.perSnr[env]?.[Math.min(...snrs)]?.meanC?.mean;
      return Number.isFinite(hi) && Number.isFinite(lo) ? (hi - lo).toFixed(2) : '–';
    };
    lines.push(`| ${r.name} | ${c2(x.cleanC)} | ${per('matched').join(' | ')} | ${per('unmatched').join(' | ')} | ${spread('matched')} | ${spread('unmatched')} |`);
  }
}
/** Per-utterance c of a run's TRNet task on FOLD: its spread, how often it sits on eq. 3's bounds, and Pearson's r
 * between c and the SNR per noise environment (Fig. 2's claim is r > 0). */
function cStats(dir) {
  const e = read(join(dir, 'tasks', FOLD, 'seed-1', 'trnet', 'evaluation.json'));
  if (!e) return null;
  const rows = e.rows.filter((r) => typeof r.c === 'number');
  const cs = rows.map((r) => r.c);
  const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
  const sd = (v) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
  const r = (env) => {
    const rs = rows.filter((x) => x.condition === env);
    const c = rs.map((x) => x.c);
    const snr = rs.map((x) => x.snrDb);
    const [sc, ss] = [sd(c), sd(snr)];
    return sc > 0 && ss > 0 ? mean(c.map((x, i) => (x - mean(c)) * (snr[i] - mean(snr)))) / (sc * ss) : NaN;
  };
  return { sd: sd(cs), bound: cs.filter((c) => c <= 0 || c >= 1).length / cs.length, rEsc: r('matched'), rSc: r('unmatched'), n: cs.length };
}
const f2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : '–');
lines.push('', `Per-utterance c on fold ${FOLD} (every test item, clean and noisy): its standard deviation, the share at exactly 0 or 1 (eq. 3's dead zone), and Pearson's r between c and the SNR (ESC, SC):`, '');
lines.push('| option | chosen: sd | chosen: at 0/1 | chosen: r ESC | chosen: r SC | last: sd | last: at 0/1 | last: r ESC | last: r SC |');
lines.push('|---|---|---|---|---|---|---|---|---|');
for (const r of done) {
  if (r.name.includes('mean of')) continue;
  const a = cStats(join(base, r.name));
  const b = cStats(join(base, 'last', r.name));
  const cells = (x) => (x ? [f2(x.sd), `${(100 * x.bound).toFixed(0)} %`, f2(x.rEsc), f2(x.rSc)] : ['–', '–', '–', '–']);
  lines.push(`| ${r.name} | ${[...cells(a), ...cells(b)].join(' | ')} |`);
}
const missing = runs.filter((r) => !r.chosen).map((r) => r.name);
if (missing.length) lines.push('', `Not run (or not finished) in this table: ${missing.join(', ')}.`);
process.stdout.write(`${lines.join('\n')}\n`);
