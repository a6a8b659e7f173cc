#!/usr/bin/env node
// The CLI runs the compiled façade in dist/ (built by `npm run setup` / `npm run build`; `npm test` rebuilds it).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('trnet: dist/ is missing; run `npm run setup` (or `npm run build`) first\n');
  process.exit(1);
}
// A closed pipe (`trnet doctor | head`) ends the output, not the process with a stack trace.
process.stdout.on('error', (err) => process.exit(err.code === 'EPIPE' ? 0 : 1));
const { main } = await import(entry.href);
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // A coded trnet error says what was wrong and how to fix it: its message is the report. Anything else is
  // a bug, and the stack helps to report it.
  const code = err instanceof Error && typeof err.code === 'string' && /^TRNET_|^ABORT_ERR$/.test(err.code) ? err.code : undefined;
  process.stderr.write(code ? `trnet: [${code}] ${err.message}\n` : `trnet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  if (err instanceof Error && err.cause) process.stderr.write(`caused by: ${String(err.cause)}\n`);
  process.exitCode = 1;
}
