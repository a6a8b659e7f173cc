/**
 * How the façade runs a long native job: native work runs off the JS thread and settles a Promise,
 * progress arrives through a callback in order, and an AbortSignal stops it (see src/jobs.rs).
 */
import { abortError, isAbortError } from './errors.js';
import type { Native } from './native.js';
import { JOB_OPTIONS, recode } from './validate.js';

/** Every progress event the addon sends: a union discriminated by `stage`, generated from src/jobs.rs. */
export type Progress = Native.Progress;
/** The events of the given stages, e.g. `ProgressOf<'step' | 'epoch'>` for training. */
export type ProgressOf<S extends Progress['stage']> = Extract<Progress, { stage: S }>;

/**
 * The `convert` of a job whose events are of the given stages: passes them through unchanged, typed as
 * those stages. An event of another stage means the addon and the façade disagree, so it throws (which
 * aborts the job with that error) instead of handing the caller a shape its type does not describe.
 */
export function stages<S extends Progress['stage']>(...expected: S[]): (p: Progress) => ProgressOf<S> {
  return (p) => {
    if (!(expected as string[]).includes(p.stage))
      throw new Error(
        `trnet: a progress event of stage "${p.stage}" where ${expected.map((s) => `"${s}"`).join(' or ')} was expected; the addon and ts/ are out of step: rebuild with \`npm run build\`.`,
      );
    return p as ProgressOf<S>;
  };
}

export interface JobOptions<P> {
  onProgress?: (progress: P) => void;
  signal?: AbortSignal;
}

type NativeStart<T> = (onProgress: ((p: Progress) => void) | undefined, signal: AbortSignal | undefined) => Promise<T>;

/**
 * Starts a native job. A progress callback that throws aborts the job, which then rejects with that error;
 * progress events the native side queued before finishing are all delivered before the Promise settles.
 */
export async function runJob<P, T>(start: NativeStart<T>, convert: (native: Progress) => P, options: JobOptions<P> = {}): Promise<T> {
  JOB_OPTIONS(options, 'job');
  const { onProgress, signal } = options;
  if (signal?.aborted) throw abortError(signal);
  // A private controller lets a throwing progress callback stop the job too.
  const controller = new AbortController();
  const forward = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', forward, { once: true });
  let callbackError: unknown;
  const progress = onProgress
    ? (native: Progress) => {
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
    // Every abort gets one shape (the native side answers ABORT_ERR; keep it whatever the native code says).
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
