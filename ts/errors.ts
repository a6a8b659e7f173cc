/**
 * Errors from trnet carry a stable `code`. Native failures arrive as plain `Error`s with these codes (the
 * Rust cause chain is kept in `cause`); aborted jobs reject with `name === "AbortError"` and code ABORT_ERR.
 */
export type TrnetErrorCode =
  | 'TRNET_INVALID_ARGUMENT'
  | 'TRNET_DEVICE_UNAVAILABLE'
  | 'TRNET_TORCH'
  | 'TRNET_ORT_LOAD'
  | 'TRNET_MODEL_LOAD'
  | 'TRNET_MODEL_INPUT'
  | 'TRNET_ORT'
  | 'TRNET_FAST_GRU'
  | 'TRNET_PANIC'
  | 'TRNET_ADDON_MISSING'
  | 'TRNET_CORPUS'
  | 'TRNET_TRAINING_DIVERGED'
  | 'TRNET_RUN_EXISTS'
  | 'TRNET_RUN_LOCKED'
  | 'TRNET_RESUME_MISMATCH'
  | 'TRNET_CHECKPOINT_CORRUPT'
  | 'TRNET_IO'
  | 'TRNET_MODEL_CONTRACT'
  | 'TRNET_MODEL_OUTPUT'
  | 'TRNET_CARD_INVALID'
  | 'TRNET_CACHE'
  | 'TRNET_INVALID_CONFIG'
  | 'TRNET_CHECKPOINT_NOT_FOUND'
  | 'TRNET_CHECKPOINT_MISMATCH'
  | 'TRNET_AUDIO_MISSING'
  | 'TRNET_AUDIO_EMPTY'
  | 'TRNET_AUDIO_TRUNCATED'
  | 'TRNET_AUDIO_CORRUPT'
  | 'TRNET_AUDIO_UNSUPPORTED'
  | 'TRNET_AUDIO_NO_SAMPLES'
  | 'TRNET_AUDIO_NON_FINITE'
  | 'TRNET_STORE_NOT_FOUND'
  | 'TRNET_STORE_CORRUPT'
  | 'TRNET_STORE_MISMATCH'
  | 'TRNET_ENHANCE_FAILED'
  | 'TRNET_AUDIO_NOT_A_FILE'
  | 'TRNET_INTERNAL'
  | 'TRNET_CONFIG_CHANGED'
  | 'TRNET_EXPERIMENT_NOT_FOUND'
  | 'TRNET_TASK_NOT_READY'
  | 'TRNET_EXPERIMENT_CORRUPT'
  | 'TRNET_MODEL_CLOSED'
  | 'TRNET_ENHANCER_MISMATCH'
  | 'TRNET_TASK_LOCKED'
  | 'TRNET_SLURM'
  | 'ABORT_ERR';

export interface TrnetError extends Error {
  code: TrnetErrorCode;
}

export function isTrnetError(err: unknown, code?: TrnetErrorCode): err is TrnetError {
  const c: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  if (typeof c !== 'string') return false;
  return code === undefined ? c.startsWith('TRNET_') || c === 'ABORT_ERR' : c === code;
}

/** The error an aborted job rejects with, the same shape native aborts have. */
export function abortError(signal?: AbortSignal): Error {
  const err = new Error('The operation was aborted', signal?.reason === undefined ? undefined : { cause: signal.reason });
  err.name = 'AbortError';
  (err as TrnetError).code = 'ABORT_ERR';
  return err;
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
