/**
 * The HTTP routes around one loaded trnet model (Fastify). server.mjs reads the settings and starts it; this
 * module only builds the app, so another program can mount it with its own model and settings.
 *
 *   POST /predict   audio as a multipart file field `audio`, or as the raw body (Content-Type audio/* or
 *                   application/octet-stream) → { label, probabilities, c } (plus `top` with ?top=k)
 *   GET  /health    → { status: 'ok', model: { dir, variant, classes }, inFlight, maxInFlight, predictions, batches }
 *
 * Errors are JSON { statusCode, error, code, message }: 413 for an upload over the size limit, 400 with the
 * trnet code (TRNET_AUDIO_*) for audio that does not decode, 400 for a query that fails its schema, 503 with
 * Retry-After when the service is overloaded (too many predictions in flight, or the event loop lagging).
 */
import multipart from '@fastify/multipart';
import underPressure from '@fastify/under-pressure';
import Fastify from 'fastify';
import { isTrnetError } from 'trnet';
import { Batcher } from './batcher.mjs';

/** trnet codes that mean "the audio sent was bad": the client's fault, 400. Any other trnet code is the server's. */
const CLIENT_CODES = new Set([
  'TRNET_AUDIO_EMPTY',
  'TRNET_AUDIO_TRUNCATED',
  'TRNET_AUDIO_CORRUPT',
  'TRNET_AUDIO_UNSUPPORTED',
  'TRNET_AUDIO_NO_SAMPLES',
  'TRNET_AUDIO_NON_FINITE',
  'TRNET_INVALID_ARGUMENT',
]);

/** An error with an HTTP status, in the shape Fastify's own errors have (statusCode + code). */
function httpError(statusCode, code, message) {
  return Object.assign(new Error(message), { statusCode, code });
}

const STATUS_TEXT = { 400: 'Bad Request', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error', 503: 'Service Unavailable' };

/**
 * @param {import('trnet').Model} model a loaded model; the app closes it when the server closes.
 * @param {{ maxBytes?: number, maxInFlight?: number, maxBatch?: number, retryAfterS?: number, maxEventLoopDelayMs?: number, logger?: boolean | object }} [options]
 */
export async function buildApp(model, options = {}) {
  const maxBytes = options.maxBytes ?? 20 * 1024 * 1024;
  const maxInFlight = options.maxInFlight ?? 64;
  const retryAfterS = options.retryAfterS ?? 1;
  const batcher = new Batcher(model, options.maxBatch ?? 16);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: maxBytes,
    // Unknown query parameters are an error (400), not silently dropped as Fastify's default ajv setup does.
    ajv: { customOptions: { removeAdditional: false } },
  });

  // Overload from outside the model: a lagging event loop or heap. Answers 503 + Retry-After before any work.
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs ?? 2000,
    retryAfter: retryAfterS,
    exposeStatusRoute: false,
  });
  await app.register(multipart, { limits: { fileSize: maxBytes, files: 1, fields: 10 }, throwFileSizeLimit: true });
  // Raw audio bodies are kept as bytes; trnet decodes them (WAV/FLAC/OGG/MP3), so the exact audio type is not checked here.
  app.addContentTypeParser([/^audio\//, 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) => done(null, body));

  // The bounded queue in front of the model: requests counted from arrival until their response is gone. Past
  // maxInFlight a request is refused at once (before its body is read), so a burst cannot pile up memory or latency.
  let inFlight = 0;
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url !== '/predict') return;
    if (inFlight >= maxInFlight) {
      reply.header('Retry-After', String(retryAfterS));
      throw httpError(503, 'SERVE_OVERLOADED', `expected at most ${maxInFlight} predictions in flight, found ${inFlight}; retry after ${retryAfterS} s`);
    }
    inFlight++;
    // 'close' fires once per response, sent or aborted.
    reply.raw.once('close', () => inFlight--);
  });

  app.setErrorHandler((err, _request, reply) => {
    let status = err.statusCode ?? 500;
    if (isTrnetError(err)) status = CLIENT_CODES.has(err.code) ? 400 : err.code === 'TRNET_MODEL_CLOSED' ? 503 : 500;
    if (status >= 500 && status !== 503) reply.log.error(err);
    if (status === 503 && !reply.hasHeader('Retry-After')) reply.header('Retry-After', String(retryAfterS));
    reply.code(status).send({ statusCode: status, error: STATUS_TEXT[status] ?? 'Error', code: err.code ?? 'SERVE_ERROR', message: err.message });
  });

  const probabilities = { type: 'object', additionalProperties: { type: 'number' } };
  app.post(
    '/predict',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { top: { type: 'integer', minimum: 1, maximum: model.classes.length } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['label', 'probabilities', 'c'],
            properties: {
              label: { type: 'string' },
              probabilities,
              c: { type: ['number', 'null'] },
              top: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' }, probability: { type: 'number' } } } },
            },
          },
        },
      },
    },
    async (request) => {
      const audio = await audioOf(request);
      const p = await batcher.predict(audio);
      if (request.query.top === undefined) return p;
      const top = Object.entries(p.probabilities)
        .map(([label, probability]) => ({ label, probability }))
        .sort((a, b) => b.probability - a.probability)
        .slice(0, request.query.top);
      return { ...p, top };
    },
  );

  app.get('/health', async (_request, reply) => {
    if (model.closed) {
      reply.header('Retry-After', String(retryAfterS));
      return reply.code(503).send({ status: 'closing' });
    }
    return { status: 'ok', model: { dir: model.dir, variant: model.variant, classes: model.classes }, inFlight, maxInFlight, ...batcher.stats };
  });

  // Graceful close: app.close() stops accepting, lets the requests in flight finish, then frees the native model.
  app.addHook('onClose', async () => model.close());
  return app;
}

/** The uploaded bytes: the multipart file field `audio` (or the only file sent), or the raw body. */
async function audioOf(request) {
  if (request.isMultipart()) {
    for await (const part of request.parts()) {
      // toBuffer() throws Fastify's 413 when the file is over the size limit.
      if (part.type === 'file') return await part.toBuffer();
    }
    throw httpError(400, 'SERVE_NO_AUDIO', 'expected a multipart file field `audio` with the audio, found no file in the form');
  }
  if (Buffer.isBuffer(request.body)) return request.body;
  throw httpError(415, 'SERVE_NO_AUDIO', 'expected audio as a multipart file field `audio` or as the body with Content-Type audio/*, found neither');
}
