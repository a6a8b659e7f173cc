import { describe, expect, it } from 'vitest';
import { benchMatmul, isAbortError, isTrnetError, type MatmulProgress } from '../ts/index.js';
import { native } from '../ts/native.js';

// 512³ multiplications take a few ms each on one core, so these jobs run for a noticeable time.
const LONG = { size: 512, steps: 100 };

describe('long native jobs', () => {
  it('keep the JS event loop live: a timer keeps firing while the job runs', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    const result = await benchMatmul(LONG);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(result.stepsDone).toBe(LONG.steps);
    expect(elapsed).toBeGreaterThan(100);
    // A blocked loop would give at most one tick; a live one ticks through the whole job.
    expect(ticks).toBeGreaterThan(Math.min(10, elapsed / 20));
  });

  it('deliver every progress event in order before the Promise settles', async () => {
    const seen: MatmulProgress[] = [];
    const result = await benchMatmul({ size: 64, steps: 50 }, { onProgress: (p) => seen.push(p) });
    expect(result.stepsDone).toBe(50);
    expect(seen.map((p) => p.done)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(seen.every((p) => p.total === 50 && p.stage === 'matmul')).toBe(true);
  });

  it('stop early and reject with an AbortError when the signal fires mid-run', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const run = benchMatmul(LONG, {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p.done);
        if (p.done === 3) controller.abort();
      },
    });
    const err = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAbortError(err)).toBe(true);
    expect(isTrnetError(err, 'ABORT_ERR')).toBe(true);
    expect(seen.length).toBeLessThan(LONG.steps);
  });

  it('reject at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(benchMatmul(LONG, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('start at once on threads of their own: four long jobs do not queue a fifth', async () => {
    // On libuv's pool (4 threads by default) the fifth job would wait for one of these to finish.
    let blockersDone = 0;
    const blockers = Array.from({ length: 4 }, () =>
      native.matmulBurn({ size: 256, steps: 200 }).then((r) => {
        blockersDone++;
        return r;
      }),
    );
    const fifth = await native.matmulBurn({ size: 64, steps: 1 });
    expect(fifth.stepsDone).toBe(1);
    expect(blockersDone).toBe(0);
    await Promise.all(blockers);
  });

  it('reject with ABORT_ERR when aborted right after they start, natively and through the façade', async () => {
    const controller = new AbortController();
    const started = native.matmulBurn(LONG, undefined, controller.signal);
    controller.abort();
    const err = await started.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAbortError(err)).toBe(true);
    expect((err as { code?: string }).code).toBe('ABORT_ERR');

    const again = new AbortController();
    const viaFacade = benchMatmul(LONG, { signal: again.signal });
    again.abort();
    await expect(viaFacade).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  it('reject with the error a progress callback throws, and stop the work', async () => {
    const seen: number[] = [];
    const boom = new Error('callback failed');
    const err = await benchMatmul(LONG, {
      onProgress: (p) => {
        seen.push(p.done);
        throw boom;
      },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBe(boom);
    expect(seen).toEqual([1]);
  });

  it('reject with a coded error when the work fails', async () => {
    const err = await benchMatmul({ device: 'gpu' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTrnetError(err, 'TRNET_INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain('cuda:N');
  });
});
