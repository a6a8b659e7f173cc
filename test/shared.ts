/** Where the tests find real data and models: TRNET_SHARED, defaulting to ../shared beside the repo. */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const sharedDir = resolve(process.env.TRNET_SHARED ?? resolve(repoRoot, '../shared'));

/** A path inside the shared folder; throws with a fix if it is missing, so no test silently passes without data. */
export function sharedPath(...parts: string[]): string {
  const p = resolve(sharedDir, ...parts);
  if (!existsSync(p)) throw new Error(`missing ${p}: set TRNET_SHARED to the folder holding data/ and models/`);
  return p;
}
