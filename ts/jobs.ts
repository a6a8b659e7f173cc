/**
 * How the façade runs a long native job: native work runs off the JS thread and settles a Promise,
 * progress arrives through a callback in order, and an AbortSignal stops it (see src/jobs.rs).
 */
import { abortError, isAbortError } from './errors.js';
import { JOB_OPTIONS, recode } from './validate.js';

export interface JobOptions<P> {
  onProgress?: (progress: P) => void;
  signal?: AbortSignal;
}

type NativeStart<N, T> = (onProgress: ((p: N) => void) | undefined, signal: AbortSignal | undefined) => Promise<T>;

/**
 * Starts a native job. A progress callback that throws aborts the job, which then rejects with that error;
 * progress events the native side queued before finishing are all delivered before the Promise settles.
 */
export async function runJob<N, P, T>(start: NativeStart<N, T>, convert: (native: N) => P, options: JobOptions<P> = {}): Promise<T> {
  JOB_OPTIONS(options, 'job');
  const { onProgress, signal } = options;
  if (signal?.aborted) throw abortError(signal);
  // A private controller lets a throwing progress callback stop the job too.
  const controller = new AbortController();
  const forward = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', forward, { once: true });
  let callbackError: unknown;
  const progress = onProgress
    ? (native: N) => {
        if (callbackError !== undefined) return;
        try {
          onProgress(convert(native));
        } catch (err) {
          callbackError = err;
          controller.abort(err);
        }
      }
    : undefined;
  try {
    return await settleAfterProgress(start(progress, controller.signal));
  } catch (err) {
    if (callbackError !== undefined) throw callbackError;
    // napi's own cancellation of a job still queued has code "Cancelled"; give every abort one shape.
    if (isAbortError(err)) throw abortError(signal);
    throw recode(err);
  } finally {
    signal?.removeEventListener('abort', forward);
  }
}

/** Progress calls and the job's completion travel through separate libuv queues; one turn of the event
 * loop after completion, every progress call queued before it has run. */
async function settleAfterProgress<T>(work: Promise<T>): Promise<T> {
  try {
    const value = await work;
    await new Promise((resolve) => setImmediate(resolve));
    return value;
  } catch (err) {
    await new Promise((resolve) => setImmediate(resolve));
    throw err;
  }
}
