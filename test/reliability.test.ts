/**
 * Issue 11, cases 1, 5, 6, 7 and 8: each line of the issue, reproduced. Where the failure mode is a crash or a
 * hang, the call runs in a child process with a timeout, so an abort (exit 134) or a hang fails the test
 * instead of taking the test runner down.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildFeatureSet,
  decodeAudio,
  decodeAudioBytes,
  enhancerInfo,
  type FeatureSet,
  fbank,
  fixLength,
  GTCRN_STFT,
  isTrnetError,
  istft,
  loadAudioBatch,
  losoFolds,
  openFeatureSet,
  readEsc50,
  readRavdess,
  resumeTraining,
  stft,
  train,
  type UtteranceSpec,
  writeWav,
} from '../ts/index.js';
import { repoRoot, sharedPath } from './shared.js';

const work = mkdtempSync(join(tmpdir(), 'trnet-reliability-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs an ES module program against the built package (dist/) in a child; its last stdout line is JSON. */
function child(program: string, timeout = 60_000) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { cwd: repoRoot, encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { status: r.status, signal: r.signal, stderr: r.stderr, result: r.status === 0 ? JSON.parse(last) : undefined };
}

/** The error a call throws or a promise rejects with, as { code, message }. */
const failure = async (f: () => unknown) => {
  try {
    await f();
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  throw new Error('expected the call to fail');
};

const EMOTIONS = ['neutral', 'happy', 'sad', 'angry'];
const ravdess = readRavdess(sharedPath('data/ravdess'), { emotions: EMOTIONS });
const spec = (actor: string, n: number): UtteranceSpec[] =>
  ravdess
    .filter((u) => u.speaker === actor)
    .slice(0, n)
    .map((u) => ({ path: u.path, label: EMOTIONS.indexOf(u.emotion), speaker: u.speaker, id: u.id }));
const noise = readEsc50(sharedPath('data/esc50'), { folds: [4] })[0]!.path;

describe('case 1: numbers at the boundary', () => {
  it('negative, huge and fractional numbers are coded errors, not aborts or wrapped values', () => {
    // In a child: before the fix these aborted Node (exit 134) or allocated ~16 GB.
    const r = child(`
      import * as t from 'trnet';
      const out = [];
      const run = (label, f) => { try { f(); out.push({ label, ok: true }); } catch (e) { out.push({ label, code: e.code, message: e.message }); } };
      const w = new Float32Array(800);
      for (const target of [-1, 2 ** 31, 1e10, 5e7]) run('fixLength ' + target, () => t.fixLength(w, 80, target, 'zero'));
      run('stft nFft -1', () => t.stft(new Float32Array(16000), { nFft: -1, hopLength: 256 }));
      run('stft nFft 2**31', () => t.stft(new Float32Array(16000), { nFft: 2 ** 31, hopLength: 256 }));
      run('stft hop 1 nFft 65536', () => t.stft(new Float32Array(16000 * 60), { nFft: 65536, hopLength: 1, center: true, padMode: 'constant' }));
      const spec = t.stft(new Float32Array(4000).fill(0.1), t.GTCRN_STFT);
      run('istft -1', () => t.istft(spec, t.GTCRN_STFT, -1));
      run('istft 1e9', () => t.istft(spec, t.GTCRN_STFT, 1e9));
      run('targetRate -1', () => t.decodeAudio('/nonexistent.wav', { targetRate: -1 }));
      console.log(JSON.stringify(out));
    `);
    expect(r.status, r.stderr).toBe(0);
    const results = r.result as { label: string; code?: string; message?: string }[];
    expect(results).toHaveLength(10);
    for (const x of results) expect(x.code, x.label).toBe('TRNET_INVALID_ARGUMENT');
    // A negative number is reported as what was passed, not as 4294967295.
    for (const x of results) expect(x.message, x.label).not.toContain('found 4294967295');
    expect(results.find((x) => x.label === 'fixLength -1')!.message).toContain('found -1');
    expect(results.find((x) => x.label === 'targetRate -1')!.message).toContain('found -1');
  });

  it('frames −1 and a label of 1.5 are refused with what was passed', async () => {
    const utts = spec('Actor_01', 1);
    const frames = await failure(() => buildFeatureSet(utts, { frames: -1, noisy: 'none' }));
    expect(frames).toMatchObject({
      code: 'TRNET_INVALID_ARGUMENT',
      message: expect.stringContaining('options.frames: expected an integer in 1..100000, found -1'),
    });
    const label = await failure(() => buildFeatureSet([{ ...utts[0]!, label: 1.5 }], { noisy: 'none' }));
    expect(label).toMatchObject({ code: 'TRNET_INVALID_ARGUMENT', message: expect.stringContaining('utterances[0].label: expected an integer') });
    expect(label.message).toContain('found 1.5');
  });
});

describe('case 5: inputs must be regular files', () => {
  let fifo: string;
  beforeAll(() => {
    fifo = join(work, 'pipe.wav');
    execFileSync('mkfifo', [fifo]);
  });

  it('decodeAudio refuses a FIFO and character devices at once with a coded error', () => {
    // In a child with a timeout: before the fix the FIFO hung forever and /dev/zero read without limit.
    const r = child(
      `
      import { decodeAudio } from 'trnet';
      const out = [];
      for (const p of [${JSON.stringify(fifo)}, '/dev/zero', '/dev/null']) {
        const t0 = performance.now();
        try { decodeAudio(p); out.push({ p, ok: true }); } catch (e) { out.push({ p, code: e.code, message: e.message, ms: performance.now() - t0 }); }
      }
      console.log(JSON.stringify(out));
    `,
      30_000,
    );
    expect(r.signal, 'the child hung').toBeNull();
    expect(r.status, r.stderr).toBe(0);
    for (const x of r.result as { p: string; code: string; message: string; ms: number }[]) {
      expect(x.code, x.p).toBe('TRNET_AUDIO_NOT_A_FILE');
      expect(x.message).toContain(x.p);
      expect(x.ms).toBeLessThan(1000);
    }
  });

  it('loadAudioBatch reports a FIFO per item, and settles when aborted', async () => {
    const good = spec('Actor_01', 1)[0]!.path;
    const items = await loadAudioBatch([fifo, good, '/dev/zero']);
    expect(items.map((i) => i.error?.code ?? 'ok')).toEqual(['TRNET_AUDIO_NOT_A_FILE', 'ok', 'TRNET_AUDIO_NOT_A_FILE']);
    const controller = new AbortController();
    const job = loadAudioBatch(
      Array.from({ length: 64 }, (_, i) => (i % 2 ? fifo : good)),
      {},
      { signal: controller.signal },
    );
    controller.abort();
    const settled = await Promise.race([
      job.then(
        () => 'resolved',
        (e: Error) => e.name,
      ),
      new Promise((r) => setTimeout(() => r('hung'), 10_000)),
    ]);
    expect(settled).toBe('AbortError');
  });

  it('a long utterance costs what its kept frames need, not what the file holds', () => {
    // 20 minutes of speech-like noise, 100 frames kept: before the fix the whole file was mixed, enhanced and
    // filterbanked (a 2-hour file peaked at ~2.3 GiB). Peak RSS is compared with a 5-second file's in the same
    // child; what remains is decoding the file (its bytes and samples, ~115 MB here).
    const long = join(work, 'long.wav');
    const short = join(work, 'short.wav');
    const tone = (n: number) => Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin(i * 0.07) * Math.sin(i * 0.0003) + 0.01 * Math.sin(i * 1.3));
    writeWav(short, tone(16_000 * 5));
    writeWav(long, tone(16_000 * 60 * 20));
    const peak = (file: string) => {
      const r = child(
        `
        import { buildFeatureSet } from 'trnet';
        import { readFileSync } from 'node:fs';
        const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
        await buildFeatureSet([{ path: ${JSON.stringify(short)}, label: 0, speaker: 's' }], { frames: 100, noises: [${JSON.stringify(noise)}] });
        const before = hwm();
        const set = await buildFeatureSet([{ path: ${JSON.stringify(file)}, label: 0, speaker: 's', id: 'x' }], { frames: 100, noises: [${JSON.stringify(noise)}] });
        console.log(JSON.stringify({ items: set.length, grew: hwm() - before }));
      `,
        120_000,
      );
      expect(r.status, r.stderr).toBe(0);
      return r.result as { items: number; grew: number };
    };
    const l = peak(long);
    expect(l.items).toBe(2);
    // The decoded file alone is 77 MB of f32 (plus 38 MB of bytes); mixing, enhancing and filterbanking it
    // whole added several times that.
    expect(l.grew / 2 ** 20).toBeLessThan(250);
  }, 240_000);
});

describe('case 6: the CLI', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [resolve(repoRoot, 'bin/trnet.mjs'), ...args], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  const voice = sharedPath('data/voicebank-samples/noisy');
  const first = join(voice, readdirSync(voice).sort()[0]!);

  it('two inputs with one name write two outputs (mirrored folders), exact clashes are refused', () => {
    const dir = join(work, 'cli-clash');
    for (const sub of ['a', 'b']) {
      mkdirSync(join(dir, sub), { recursive: true });
      writeFileSync(join(dir, sub, 'x.wav'), execFileSync('cat', [first]));
    }
    const out = join(dir, 'O');
    const r = cli('enhance', join(dir, 'a/x.wav'), join(dir, 'b/x.wav'), '--out', out, '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { output: string }[];
    expect(report.map((x) => x.output)).toEqual([join(out, 'a/x.enhanced.wav'), join(out, 'b/x.enhanced.wav')]);
    for (const x of report) expect(existsSync(x.output)).toBe(true);
    const same = cli('enhance', join(dir, 'a/x.wav'), join(dir, 'a/x.wav'), '--out', out);
    expect(same.status).toBe(2);
    expect(same.stderr).toContain('would write the same output file');
  });

  it('an output folder that cannot be made fails fast with exit 2', () => {
    const t0 = performance.now();
    const r = cli('enhance', first, '--out', '/proc/x');
    expect(r.signal, 'it spun until killed').toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--out /proc/x');
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it.each([
    [['--bogus'], 'Unknown option'],
    [['--out'], "'--out <value>' argument missing"],
    [['--threads', '-3'], '--threads'],
    [['--threads=-3'], '--threads: expected a whole number'],
    [['--threads', 'abc'], '--threads: expected a whole number'],
    [['--kind', 'nope'], '--kind: expected one of'],
  ])('usage error %j exits 2 with the usage and no stack trace', (flags, message) => {
    const r = cli('enhance', first, ...(flags.includes('--out') ? [] : ['--out', join(work, 'cli-usage')]), ...flags);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('usage: trnet');
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('case 7: errors that say what happened', () => {
  it("napi's own type errors become coded errors", async () => {
    const calls: [string, () => unknown][] = [
      ['decodeAudioBytes(null)', () => decodeAudioBytes(null as never, 'x.wav')],
      ['istft(null)', () => istft(null as never, GTCRN_STFT)],
      ['buildFeatureSet([null])', () => buildFeatureSet([null as never])],
      ['train(undefined)', () => train(undefined as never)],
      ['losoFolds(null)', () => losoFolds(null as never)],
    ];
    for (const [label, call] of calls) expect((await failure(call)).code, label).toBe('TRNET_INVALID_ARGUMENT');
  });

  it('a silent or too-short clip fails a build naming the file', async () => {
    const silent = join(work, 'silent.wav');
    const tiny = join(work, 'tiny.wav');
    writeWav(silent, new Float32Array(16_000));
    writeWav(tiny, new Float32Array(100).fill(0.1));
    const good = spec('Actor_01', 2);
    for (const bad of [silent, tiny]) {
      const e = await failure(() => buildFeatureSet([...good, { path: bad, label: 0, speaker: 'Actor_01', id: 'bad' }], { frames: 50, noises: [noise] }));
      expect(e.code).toBe('TRNET_INVALID_ARGUMENT');
      expect(e.message).toContain(bad);
    }
  });

  it('openFeatureSet on the folder holding the stores points into it instead of saying to delete it', async () => {
    const root = join(work, 'stores');
    const set = await buildFeatureSet(spec('Actor_01', 2), { frames: 50, noisy: 'none', store: { dir: root } });
    const e = await failure(() => openFeatureSet(root));
    expect(e.code).toBe('TRNET_STORE_NOT_FOUND');
    expect(e.message).not.toMatch(/delete/i);
    expect(e.message).toContain(set.storePath!.split('/').pop()!);
  });

  it('writeWav failures say "cannot write"', async () => {
    const e = await failure(() => writeWav(join(work, 'no/such/folder/x.wav'), new Float32Array(10)));
    expect(e.code).toBe('TRNET_IO');
    expect(e.message).toMatch(/^cannot write /);
  });

  describe('training runs', () => {
    let trainSet: FeatureSet, valSet: FeatureSet;
    beforeAll(async () => {
      trainSet = await buildFeatureSet(spec('Actor_01', 8), { frames: 50, noisy: 'none' });
      valSet = await buildFeatureSet(spec('Actor_02', 4), { frames: 50, noisy: 'none' });
    }, 60_000);

    it('a `last` that is a file is named as such', async () => {
      const out = join(work, 'last-file');
      mkdirSync(out);
      writeFileSync(join(out, 'last'), 'not a folder');
      const e = await failure(() => resumeTraining({ trainSet, valSet, outDir: out }));
      expect(e.code).toBe('TRNET_CHECKPOINT_CORRUPT');
      expect(e.message).toContain('it is a file');
    });

    it('a model config without `variant` asks for the variant', async () => {
      const e = await failure(() => train({ modelConfig: { channels: [4, 8] } as never, trainSet, valSet, outDir: join(work, 'no-variant') }));
      expect(e.code).toBe('TRNET_INVALID_ARGUMENT');
      expect(e.message).toContain('options.modelConfig.variant');
      expect(e.message).not.toMatch(/reference/i);
    });

    it('case 8: the same speakers in training and validation are refused', async () => {
      const e = await failure(() =>
        train({ modelConfig: { variant: 'baseline-c', channels: [4, 8], numClasses: 4 }, trainSet, valSet: trainSet, outDir: join(work, 'leak') }),
      );
      expect(e.code).toBe('TRNET_INVALID_ARGUMENT');
      expect(e.message).toContain('"Actor_01"');
      expect(existsSync(join(work, 'leak'))).toBe(false);
    });
  });
});

describe('case 8: loose checks', () => {
  it('unknown option keys are refused, naming the key', async () => {
    const utts = spec('Actor_01', 1);
    const cases: [string, () => unknown, string][] = [
      ['feature-set', () => buildFeatureSet(utts, { frame: 100 } as never), 'options.frame'],
      ['audio', () => decodeAudio(utts[0]!.path, { targetrate: 8000 } as never), 'options.targetrate'],
      ['fbank', () => fbank(new Float32Array(1000), { numMelBin: 40 } as never), 'options.numMelBin'],
      ['enhancer', () => enhancerInfo({ kind: 'classical', threads: 2 } as never), 'options.threads'],
      ['nested fbank', () => buildFeatureSet(utts, { fbank: { dithr: 1 } } as never), 'options.fbank.dithr'],
    ];
    for (const [label, call, key] of cases) {
      const e = await failure(call);
      expect(e.code, label).toBe('TRNET_INVALID_ARGUMENT');
      expect(e.message, label).toContain(`${key}: expected one of the known keys`);
    }
  });

  it('intraThreads below 1 is refused', async () => {
    for (const n of [0, -1, 1.5]) expect((await failure(() => enhancerInfo({ intraThreads: n }))).code).toBe('TRNET_INVALID_ARGUMENT');
  });

  it('duplicate utterance ids are refused, naming both', async () => {
    const [a, b] = spec('Actor_01', 2);
    const e = await failure(() => buildFeatureSet([a!, { ...b!, id: a!.id }], { noisy: 'none' }));
    expect(e.code).toBe('TRNET_INVALID_ARGUMENT');
    expect(e.message).toContain(a!.path);
  });

  it('writeWav refuses NaN samples instead of writing a file decodeAudio refuses', async () => {
    const file = join(work, 'nan.wav');
    const e = await failure(() => writeWav(file, new Float32Array([0, NaN, 0])));
    expect(e).toMatchObject({ code: 'TRNET_INVALID_ARGUMENT', message: expect.stringContaining('sample 1') });
    expect(existsSync(file)).toBe(false);
  });

  it('fixLength and stft bound what they allocate against their inputs', () => {
    expect(() => fixLength(new Float32Array(800), 80, 5e7, 'zero')).toThrow(expect.objectContaining({ code: 'TRNET_INVALID_ARGUMENT' }));
    expect(() => stft(new Float32Array(100), { nFft: 2 ** 31, hopLength: 1 })).toThrow(expect.objectContaining({ code: 'TRNET_INVALID_ARGUMENT' }));
    expect(isTrnetError(new Error('x'))).toBe(false);
  });
});
