import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './shared.js';

function rustSources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? rustSources(p) : p.endsWith('.rs') ? [p] : [];
  });
}

describe('error codes', () => {
  it('every TRNET_* code the Rust side can raise is in the TypeScript TrnetErrorCode union', () => {
    const rust = [
      ...rustSources(join(repoRoot, 'src')),
      ...readdirSync(join(repoRoot, 'crates')).flatMap((c) => rustSources(join(repoRoot, 'crates', c, 'src'))),
    ];
    // Names read from the environment (env!("…"), env::var("…"), env::var_os("…")) are settings, not codes.
    const raised = new Set(rust.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/(?<!(?:env!|var|var_os)\()"(TRNET_[A-Z_]+)"/g)].map((m) => m[1]!)));
    const declared = new Set([...readFileSync(join(repoRoot, 'ts/errors.ts'), 'utf8').matchAll(/'(TRNET_[A-Z_]+)'/g)].map((m) => m[1]!));
    expect(raised.size).toBeGreaterThan(10);
    expect([...raised].filter((c) => !declared.has(c))).toEqual([]);
  });
});
