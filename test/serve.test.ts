/**
 * The example service (examples/serve, issue 13) as a real child process on 127.0.0.1: a tiny model trained here,
 * real RAVDESS audio posted over HTTP, the answers compared with `model.predict` in this process, each error
 * (413, 400 with the trnet code, 400 on a query that fails its schema, 503 + Retry-After under overload), a burst of
 * concurrent requests none of which is lost, and a graceful close by pid.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load, type Model, type PredictResult, readRavdess } from '../ts/index.js';
import { repoRoot, sharedPath, trainTinyModel } from './shared.js';

const exampleDir = join(repoRoot, 'examples', 'serve');
const work = mkdtempSync(join(tmpdir(), 'trnet-serve-'));
const MAX_BYTES = 200_000;

interface Server {
  url: string;
  child: ChildProcess;
  /** Every log line the server wrote (pino JSON). */
  log: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/** Starts `node examples/serve/server.mjs` on a free port; resolves once it logs "ready" with its address. */
function startServer(modelDir: string, args: string[]): Promise<Server> {
  const child = spawn(process.execPath, ['server.mjs', '--model', modelDir, '--port', '0', '--host', '127.0.0.1', ...args], {
    cwd: exampleDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`the server did not log "ready" within 60 s; stderr: ${stderr}`)), 60_000);
    exited.then((code) => rej(new Error(`the server exited (${code}) before it was ready; stderr: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      log.push(entry);
      if (entry.msg === 'ready') {
        clearTimeout(timer);
        res({ url: entry.url as string, child, log, exited });
      }
    });
  });
}

/** SIGTERM by pid; resolves with the exit code (0 after a graceful close). */
async function stopServer(server: Server | undefined): Promise<number | null> {
  if (!server || server.child.exitCode !== null) return server?.child.exitCode ?? null;
  process.kill(server.child.pid!, 'SIGTERM');
  return server.exited;
}

let modelDir: string;
let model: Model;
let files: string[];
const expected = new Map<string, PredictResult>();
let normal: Server | undefined;
let tight: Server | undefined;

function postFile(url: string, file: string, query = ''): Promise<Response> {
  const form = new FormData();
  form.append('audio', new Blob([readFileSync(file)], { type: 'audio/flac' }), 'clip.flac');
  return fetch(`${url}/predict${query}`, { method: 'POST', body: form });
}

function postRaw(url: string, bytes: Uint8Array, type = 'audio/flac', query = ''): Promise<Response> {
  return fetch(`${url}/predict${query}`, { method: 'POST', body: bytes, headers: { 'content-type': type } });
}

function postForm(url: string, bytes: Uint8Array): Promise<Response> {
  const form = new FormData();
  form.append('audio', new Blob([bytes]), 'bad.flac');
  return fetch(`${url}/predict`, { method: 'POST', body: form });
}

/**
 * The service's answer equals `model.predict` here: exactly for a request served alone; within 1e-6 for one that
 * went through in a batch with others (predictBatch differs from one-at-a-time predict by float32 rounding, ~1e-7).
 */
function expectAnswer(body: unknown, file: string, tolerance = 0) {
  const want = expected.get(file)!;
  const got = body as PredictResult;
  expect(got.label, file).toBe(want.label);
  expect(Object.keys(got.probabilities), file).toEqual(Object.keys(want.probabilities));
  if (tolerance === 0) {
    expect(got.probabilities, file).toEqual(want.probabilities);
    expect(got.c, file).toBe(want.c);
    return;
  }
  for (const [k, v] of Object.entries(want.probabilities)) expect(Math.abs(got.probabilities[k]! - v), `${file} ${k}`).toBeLessThan(tolerance);
  expect(Math.abs(got.c! - want.c!), file).toBeLessThan(tolerance);
}

describe('the example HTTP service (examples/serve)', () => {
  beforeAll(async () => {
    // `npm run setup` installs the example's dependencies; a checkout set up before the example existed gets them here.
    if (!existsSync(join(exampleDir, 'node_modules', 'fastify', 'package.json'))) {
      const npm = spawnSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: exampleDir, encoding: 'utf8' });
      if (npm.status !== 0) throw new Error(`npm ci in examples/serve failed: ${npm.stderr}`);
    }
    modelDir = await trainTinyModel(join(work, 'exp'));
    model = await load(modelDir);
    // Eight utterances of actor 1 (the emotions in the first files differ), predicted here as the reference.
    files = readRavdess(sharedPath('data/ravdess'))
      .filter((u) => u.path.includes('Actor_01'))
      .slice(0, 8)
      .map((u) => u.path);
    for (const f of files) expected.set(f, await model.predict(f));
    [normal, tight] = await Promise.all([
      startServer(modelDir, ['--max-bytes', String(MAX_BYTES), '--max-in-flight', '64']),
      startServer(modelDir, ['--max-in-flight', '1', '--retry-after', '2']),
    ]);
  }, 600_000);

  afterAll(async () => {
    await Promise.all([stopServer(normal), stopServer(tight)]);
    model?.close();
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('binds 127.0.0.1 and reports its model on GET /health', async () => {
    expect(new URL(normal!.url).hostname).toBe('127.0.0.1');
    const res = await fetch(`${normal!.url}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; model: { variant: string; classes: string[] }; maxInFlight: number };
    expect(body.status).toBe('ok');
    expect(body.model.variant).toBe('trnet');
    expect(body.model.classes).toEqual([...model.classes]);
    expect(body.maxInFlight).toBe(64);
  });

  it('answers POST /predict (multipart file or raw audio body) with what model.predict gives for the same file', async () => {
    for (const file of files.slice(0, 3)) {
      const res = await postFile(normal!.url, file);
      expect(res.status).toBe(200);
      expectAnswer(await res.json(), file);
      const raw = await postRaw(normal!.url, readFileSync(file));
      expect(raw.status).toBe(200);
      expectAnswer(await raw.json(), file);
    }
    // ?top=k adds the k most probable classes, in order.
    const res = await postRaw(normal!.url, readFileSync(files[0]!), 'audio/flac', '?top=2');
    expect(res.status).toBe(200);
    const body = (await res.json()) as PredictResult & { top: { label: string; probability: number }[] };
    expectAnswer(body, files[0]!);
    expect(body.top).toHaveLength(2);
    expect(body.top[0]!.label).toBe(body.label);
    expect(body.top[0]!.probability).toBeGreaterThanOrEqual(body.top[1]!.probability);
    expect(body.top[1]!.probability).toBe(
      Math.max(
        ...Object.entries(body.probabilities)
          .filter(([k]) => k !== body.label)
          .map(([, v]) => v),
      ),
    );
  });

  it('refuses an upload over the size limit with 413 (raw body and multipart)', async () => {
    const big = new Uint8Array(MAX_BYTES + 50_000);
    big.set(readFileSync(files[0]!));
    const raw = await postRaw(normal!.url, big);
    expect(raw.status).toBe(413);
    expect(((await raw.json()) as { code: string }).code).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
    const form = new FormData();
    form.append('audio', new Blob([big], { type: 'audio/flac' }), 'big.flac');
    const multi = await fetch(`${normal!.url}/predict`, { method: 'POST', body: form });
    expect(multi.status).toBe(413);
    expect(((await multi.json()) as { code: string }).code).toBe('FST_REQ_FILE_TOO_LARGE');
  });

  it('answers audio that does not decode with 400 and the trnet error code predict gives', async () => {
    const flac = readFileSync(files[0]!);
    const cases: [string, Uint8Array][] = [
      ['text', new TextEncoder().encode('this is not audio, only some words in a file')],
      ['a FLAC cut to its first 600 bytes', flac.subarray(0, 600)],
      ['nothing', new Uint8Array(0)],
    ];
    for (const [what, bytes] of cases) {
      const want = await model.predict(Buffer.from(bytes)).then(
        () => 'no error',
        (err: { code?: string }) => err.code,
      );
      expect(want, what).toMatch(/^TRNET_AUDIO_|^TRNET_INVALID_ARGUMENT$/);
      for (const res of [await postRaw(normal!.url, bytes, 'application/octet-stream'), await postForm(normal!.url, bytes)]) {
        expect(res.status, what).toBe(400);
        const body = (await res.json()) as { code: string; message: string };
        expect(body.code, what).toBe(want);
        expect(body.message.length, what).toBeGreaterThan(20);
      }
    }
    // A form without a file, and a body that is not audio at all.
    const form = new FormData();
    form.append('note', 'no file here');
    const noFile = await fetch(`${normal!.url}/predict`, { method: 'POST', body: form });
    expect(noFile.status).toBe(400);
    expect(((await noFile.json()) as { code: string }).code).toBe('SERVE_NO_AUDIO');
    const json = await fetch(`${normal!.url}/predict`, { method: 'POST', body: '{"audio":1}', headers: { 'content-type': 'application/json' } });
    expect(json.status).toBe(415);
  });

  it('validates the query by its schema (400)', async () => {
    for (const query of ['?top=0', '?top=abc', `?top=${model.classes.length + 1}`, '?unknown=1']) {
      const res = await postRaw(normal!.url, readFileSync(files[0]!), 'audio/flac', query);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code, query).toBe('FST_ERR_VALIDATION');
      expect(body.message, query).toMatch(/querystring/);
    }
  });

  it('loses none of a burst of 40 concurrent requests: all 200 and correct under the normal limit', async () => {
    const burst = Array.from({ length: 40 }, (_, i) => files[i % files.length]!);
    const before = (await (await fetch(`${normal!.url}/health`)).json()) as { predictions: number; batches: number };
    // Half as multipart forms, half as raw bodies.
    const answers = await Promise.all(
      burst.map((f, i) => (i % 2 ? postFile(normal!.url, f) : postRaw(normal!.url, readFileSync(f))).then(async (r) => [r.status, await r.json()] as const)),
    );
    answers.forEach(([status, body], i) => {
      expect(status, `request ${i}`).toBe(200);
      expectAnswer(body, burst[i]!, 1e-6);
    });
    const after = (await (await fetch(`${normal!.url}/health`)).json()) as { inFlight: number; predictions: number; batches: number };
    expect(after.inFlight).toBe(0);
    // The burst went to the model in batches, not one call per request.
    expect(after.predictions - before.predictions).toBe(40);
    expect(after.batches - before.batches).toBeLessThan(40);
  });

  it('frees the in-flight slot of a client that hangs up mid-upload', async () => {
    const url = new URL(`${normal!.url}/predict`);
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { 'content-type': 'audio/flac', 'content-length': 100_000 },
    });
    req.on('error', () => {});
    req.write(readFileSync(files[0]!).subarray(0, 1000));
    const inFlight = async () => ((await (await fetch(`${normal!.url}/health`)).json()) as { inFlight: number }).inFlight;
    const waitFor = async (n: number) => {
      for (let i = 0; i < 100 && (await inFlight()) !== n; i++) await new Promise((r) => setTimeout(r, 50));
      return inFlight();
    };
    expect(await waitFor(1)).toBe(1);
    req.destroy();
    expect(await waitFor(0)).toBe(0);
  });

  it('answers overload with 503 + Retry-After, answers every other request correctly, and recovers', async () => {
    const burst = Array.from({ length: 40 }, (_, i) => files[i % files.length]!);
    const answers = await Promise.all(
      burst.map((f) =>
        postRaw(tight!.url, readFileSync(f)).then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), body: await r.json() })),
      ),
    );
    let ok = 0;
    let refused = 0;
    answers.forEach((a, i) => {
      if (a.status === 200) {
        ok++;
        expectAnswer(a.body, burst[i]!, 1e-6);
      } else {
        refused++;
        expect(a.status, `request ${i}`).toBe(503);
        expect(a.retry, `request ${i}`).toBe('2');
        expect((a.body as { code: string }).code).toBe('SERVE_OVERLOADED');
      }
    });
    expect(ok + refused).toBe(40);
    expect(ok).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    // Once the burst is over, the same server answers again.
    const after = await postRaw(tight!.url, readFileSync(files[1]!));
    expect(after.status).toBe(200);
    expectAnswer(await after.json(), files[1]!);
  });

  it('closes gracefully on SIGTERM: exit code 0, model freed', async () => {
    const server = tight!;
    tight = undefined;
    expect(await stopServer(server)).toBe(0);
    expect(server.log.map((e) => e.msg)).toEqual(expect.arrayContaining(['closing', 'closed']));
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });
});
