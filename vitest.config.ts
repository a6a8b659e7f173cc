import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The addon holds process-wide native state (libtorch, ONNX Runtime); one process per file keeps it simple.
    pool: 'forks',
    testTimeout: 60_000,
  },
});
