/** Usage errors of the command line: a wrong flag, a missing or malformed value, an unusable output folder.
 * The CLI prints their message and the usage and exits with code 2, before any work starts. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** parseArgs' own errors (unknown flag, missing value) are usage errors too. */
export function isUsageError(err: unknown): err is Error {
  if (err instanceof UsageError) return true;
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
