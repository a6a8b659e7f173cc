/**
 * A per-task exclusive lock: the file `<task dir>/.lock`, created with O_EXCL (`'wx'`) so that exactly one of two
 * workers started on the same task (a job array element retried while the first still runs, two `trnet train` on one
 * folder) trains it; the other gets TRNET_TASK_LOCKED. The file holds the holder's pid and host. A lock left by a
 * process that died (kill -9, a node reboot) is taken over when it was made on this host and its pid is gone; a lock
 * from another host is never guessed at — its message says how to remove it.
 */
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = '.lock';

interface Holder {
  pid: number;
  host: string;
  since: string;
}

function lockedError(message: string): Error {
  return Object.assign(new Error(message), { code: 'TRNET_TASK_LOCKED' });
}

function readHolder(file: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? { pid: h.pid, host: h.host, since: String(h.since ?? '?') } : null;
  } catch {
    return null; // vanished, or caught between create and write: treat as held (see below)
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Creates the lock file or returns false when it exists. */
function tryCreate(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() })}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the lock of `taskDir` for task `id`, or throws TRNET_TASK_LOCKED naming the holder. Returns the release
 * function (idempotent).
 */
export function lockTask(taskDir: string, id: string): () => void {
  mkdirSync(taskDir, { recursive: true });
  const file = join(taskDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(file)) {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(file, { force: true });
      };
    }
    const holder = readHolder(file);
    if (!holder || holder.host !== hostname() || pidAlive(holder.pid)) {
      const who = holder ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : 'a worker that is writing the lock right now';
      throw lockedError(
        `task ${id} is being run by another worker (${who}); expected no other worker on it. ` +
          `Wait for that worker, or, if it is gone${holder && holder.host !== hostname() ? ` (a lock from host ${holder.host} cannot be checked from ${hostname()})` : ''}, delete ${file} and run the task again.`,
      );
    }
    // Stale: its process died on this host. Move it aside atomically; if what was moved is not the stale lock we
    // read (another worker replaced it in between), put it back and report the task as locked.
    const aside = `${file}.stale-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      renameSync(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const moved = readHolder(aside);
    if (moved && (moved.pid !== holder.pid || moved.since !== holder.since)) {
      try {
        linkSync(aside, file);
      } catch {
        // a third worker holds it now; either way the task is someone else's
      }
      rmSync(aside, { force: true });
      throw lockedError(
        `task ${id} is being run by another worker (pid ${moved.pid} on ${moved.host}, took over a stale lock); expected no other worker on it.`,
      );
    }
    rmSync(aside, { force: true });
  }
  throw lockedError(`task ${id}: could not take ${file} after 3 attempts (other workers keep replacing it); expected one worker per task.`);
}
