#!/usr/bin/env node
/**
 * Serves one trained trnet model over HTTP (see app.mjs for the routes and README.md for a walk-through).
 *
 *   node server.mjs --model <task or checkpoint folder> [--port 3000] [--host 127.0.0.1]
 *                   [--max-bytes 20971520] [--max-in-flight 64] [--max-batch 16] [--retry-after 1]
 *
 * Every option can also come from the environment: TRNET_MODEL, PORT, HOST, TRNET_SERVE_MAX_BYTES,
 * TRNET_SERVE_MAX_IN_FLIGHT, TRNET_SERVE_MAX_BATCH, TRNET_SERVE_RETRY_AFTER. --port 0 picks a free port; the log line with
 * msg "ready" gives the address. SIGINT/SIGTERM close gracefully: requests in flight finish, the model is freed.
 */
import { parseArgs } from 'node:util';
import { load } from 'trnet';
import { buildApp } from './app.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: process.env.TRNET_MODEL },
    port: { type: 'string', default: process.env.PORT ?? '3000' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    'max-bytes': { type: 'string', default: process.env.TRNET_SERVE_MAX_BYTES ?? String(20 * 1024 * 1024) },
    'max-in-flight': { type: 'string', default: process.env.TRNET_SERVE_MAX_IN_FLIGHT ?? '64' },
    'max-batch': { type: 'string', default: process.env.TRNET_SERVE_MAX_BATCH ?? '16' },
    'retry-after': { type: 'string', default: process.env.TRNET_SERVE_RETRY_AFTER ?? '1' },
  },
});

function fail(message) {
  process.stderr.write(`trnet-serve: ${message}\n`);
  process.exit(2);
}

/** A whole number of at least `min`, or a message naming the option. */
function whole(name, min) {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) fail(`--${name}: expected a whole number ≥ ${min}, found ${JSON.stringify(values[name])}`);
  return n;
}

if (!values.model) fail('expected the model folder (--model <dir> or TRNET_MODEL), found neither');
const port = whole('port', 0);
const settings = {
  maxBytes: whole('max-bytes', 1),
  maxInFlight: whole('max-in-flight', 1),
  maxBatch: whole('max-batch', 1),
  retryAfterS: whole('retry-after', 0),
};

let model;
try {
  model = await load(values.model);
} catch (err) {
  fail(`could not load the model: [${err.code ?? 'ERROR'}] ${err.message}`);
}
const app = await buildApp(model, { ...settings, logger: { level: process.env.LOG_LEVEL ?? 'info' } });

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'closing');
    await app.close();
    app.log.info('closed');
    process.exit(0);
  });
}

const url = await app.listen({ port, host: values.host });
app.log.info({ url, model: model.dir, variant: model.variant, classes: model.classes, ...settings }, 'ready');
