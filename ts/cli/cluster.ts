/** `trnet submit --slurm` and `trnet status`: an experiment's tasks as Slurm job arrays (see ts/cluster/slurm.ts). */

import { resolve } from 'node:path';
import { type SlurmOptions, slurmStatus, submitSlurm } from '../cluster/slurm.js';
import { ConfigError } from '../experiment/config.js';
import { readConfigFile } from './experiment.js';

type Out = Pick<NodeJS.WriteStream, 'write'>;

const positiveInt = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(v)) throw new ConfigError([`${flag}: expected a positive integer, found ${JSON.stringify(v)}`]);
  return Number(v);
};

export interface SubmitFlags {
  slurm: boolean;
  partition?: string;
  gres?: string;
  gpusPerTask?: string;
  cpusPerTask?: string;
  time?: string;
  mem?: string;
  maxParallel?: string;
  taskBinary?: string;
  dryRun: boolean;
  retryFailed: boolean;
  json: boolean;
}

export function submitCommand(file: string, flags: SubmitFlags, out: Out = process.stdout): number {
  // Slurm is the one scheduler so far; the flag keeps room for others (a Kubernetes Indexed Job needs no submitter:
  // see docs/cluster.md) without making Slurm the silent default.
  if (!flags.slurm) throw new ConfigError(['trnet submit: expected a scheduler flag, found none; use --slurm']);
  if (flags.gres && flags.gpusPerTask) throw new ConfigError(['trnet submit: expected one of --gres and --gpus-per-task, found both']);
  const options: SlurmOptions = {
    partition: flags.partition,
    gres: flags.gres,
    gpusPerTask: positiveInt('--gpus-per-task', flags.gpusPerTask),
    cpusPerTask: positiveInt('--cpus-per-task', flags.cpusPerTask),
    time: flags.time,
    mem: flags.mem,
    maxParallel: positiveInt('--max-parallel', flags.maxParallel),
    taskBinary: flags.taskBinary === undefined ? undefined : resolve(flags.taskBinary),
    dryRun: flags.dryRun,
    retryFailed: flags.retryFailed,
  };
  const r = submitSlurm(file, readConfigFile(file), options);
  if (flags.json) {
    out.write(`${JSON.stringify({ dir: r.dir, skipped: r.skipped, submissions: r.submissions.map(({ text: _text, ...s }) => s) })}\n`);
    return 0;
  }
  if (r.submissions.length === 0) out.write(`nothing to submit: ${r.skipped.finished} task(s) finished, ${r.skipped.active} queued or running\n`);
  for (const s of r.submissions) {
    if (flags.dryRun) out.write(`# ${s.script}\n${s.text}\n`);
    else out.write(`stage ${s.stage}: job ${s.jobId}, ${s.indices.length} task(s)${s.dependsOn ? `, after ${s.dependsOn}` : ''} (${s.script})\n`);
  }
  if (!flags.dryRun && r.submissions.length > 0) out.write(`follow it with: trnet status ${r.dir}\n`);
  return 0;
}

export function statusCommand(dir: string, opts: { json: boolean }, out: Out = process.stdout): number {
  const s = slurmStatus(dir);
  if (opts.json) {
    out.write(`${JSON.stringify(s)}\n`);
    return 0;
  }
  out.write(
    `${s.dir}: ${s.tasks.length} tasks — ${Object.entries(s.counts)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}\n`,
  );
  if (s.note) out.write(`(${s.note})\n`);
  for (const t of s.tasks) {
    if (t.state === 'finished') continue;
    const sched = t.slurm ? ` [${t.jobId}_${t.index} ${t.slurm}${t.reason ? ` ${t.reason}` : ''}]` : '';
    out.write(`${t.state.padEnd(13)} ${String(t.index).padStart(4)}  ${t.id}${sched}${t.state === 'failed' && t.log ? `  log: ${t.log}` : ''}\n`);
  }
  if (s.counts.failed > 0) out.write(`resubmit the failed tasks with: trnet submit <config> --slurm --retry-failed\n`);
  return 0;
}
