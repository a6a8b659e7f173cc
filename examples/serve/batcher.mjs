/**
 * Micro-batching in front of one model: predictions that arrive while the model is busy wait in a queue and go
 * through together as one `predictBatch` (one enhancement, fbank and forward batch). A model runs one forward pass
 * at a time anyway, so under load this costs no latency and saves most of the per-call work: measured on the
 * tiny test model, predictBatch of 16 clips took ~9× less time per clip than 16 concurrent `predict` calls.
 *
 * Audio is decoded per request before it joins a batch, so a file that does not decode fails only its own
 * request. Batched numbers match one-at-a-time `predict` to float32 rounding (~1e-7), not bit for bit.
 */
import { decodeAudioBytes } from 'trnet';

export class Batcher {
  /** @type {{ samples: Float32Array, resolve: (p: import('trnet').PredictResult) => void, reject: (e: unknown) => void }[]} */
  #queue = [];
  #running = false;
  /** Clips predicted and the predictBatch/predict calls they took (their ratio is the mean batch size). */
  stats = { predictions: 0, batches: 0 };

  /**
   * @param {import('trnet').Model} model
   * @param {number} maxBatch the most clips in one predictBatch; 1 sends each request on its own.
   */
  constructor(model, maxBatch) {
    this.model = model;
    this.maxBatch = maxBatch;
  }

  /** The prediction for encoded audio bytes (WAV/FLAC/OGG/MP3). Decode errors reject with their TRNET_AUDIO_* code. */
  predict(bytes) {
    // Decoded (and resampled to 16 kHz) the way model.predict decodes a Buffer.
    const { samples } = decodeAudioBytes(bytes, 'upload');
    return new Promise((resolve, reject) => {
      this.#queue.push({ samples, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        // Let the requests that arrive in the same turn of the event loop join the first batch.
        setImmediate(() => this.#drain());
      }
    });
  }

  async #drain() {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.maxBatch);
      const inputs = batch.map((item) => ({ samples: item.samples, sampleRate: 16_000 }));
      this.stats.batches++;
      this.stats.predictions += batch.length;
      try {
        const results = batch.length === 1 ? [await this.model.predict(inputs[0])] : await this.model.predictBatch(inputs);
        for (const [i, item] of batch.entries()) item.resolve(results[i]);
      } catch (err) {
        // One clip the pipeline refuses fails the whole batch call; retry one by one so it fails only itself.
        if (batch.length === 1) batch[0].reject(err);
        else for (const [i, item] of batch.entries()) await this.model.predict(inputs[i]).then(item.resolve, item.reject);
      }
    }
    this.#running = false;
  }
}
