#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx, so there is no compiled copy to drift.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../ts/cli/main.ts');
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`trnet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  if (err instanceof Error && err.cause) process.stderr.write(`caused by: ${String(err.cause)}\n`);
  process.exitCode = 1;
}
