/** `trnet doctor`: prove the native pieces load and work, and print what they are. */
import { benchMatmul, info, isTrnetError, type NativeInfo } from '../index.js';
import { native } from '../native.js';

export interface DoctorOptions {
  json: boolean;
  bench: boolean;
  device: string;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function panicGuardCheck(): Check {
  try {
    native.panicForDiagnostics('doctor: deliberate panic');
    return { name: 'panic guard', ok: false, detail: 'a native panic did not surface as an Error' };
  } catch (err) {
    const ok = isTrnetError(err, 'TRNET_PANIC');
    return { name: 'panic guard', ok, detail: ok ? 'a native panic became a TRNET_PANIC Error' : String(err) };
  }
}

function rows(i: NativeInfo): [string, string][] {
  return [
    ['trnet', i.trnetVersion],
    ['libtorch', `${i.libtorchVersion}${i.libtorchDir ? `  (${i.libtorchDir})` : ''}`],
    [
      'CUDA',
      i.cudaAvailable
        ? `available, ${i.cudaDeviceCount} device(s), runtime ${i.cudaRuntimeVersion}, cuDNN ${i.cudnnAvailable ? 'yes' : 'no'}`
        : `not available (libtorch built for CUDA ${i.cudaRuntimeVersion ?? 'none'})`,
    ],
    ['ONNX Runtime', i.onnxruntimeVersion ? `${i.onnxruntimeVersion}  (${i.onnxruntimeLibrary})` : `NOT LOADED: ${i.onnxruntimeError}`],
    [
      'threads',
      `libtorch intra-op ${i.torchIntraOpThreads}, inter-op ${i.torchInterOpThreads}; ONNX intra-op ${i.onnxIntraThreadsDefault} per session; libuv pool ${i.libuvThreadpoolSize}; CPUs ${i.cpuCount}`,
    ],
  ];
}

export async function doctor(options: DoctorOptions, out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const i = info();
  const checks: Check[] = [{ name: 'ONNX Runtime', ok: i.onnxruntimeVersion !== undefined, detail: i.onnxruntimeError ?? 'loaded' }, panicGuardCheck()];
  let bench: Awaited<ReturnType<typeof benchMatmul>> | undefined;
  if (options.bench) {
    const steps = 20;
    bench = await benchMatmul(
      { size: 512, steps, device: options.device },
      { onProgress: options.json || !out.isTTY ? undefined : (p) => out.write(`\r  matmul 512×512 on ${options.device}: ${p.done}/${p.total}`) },
    );
    if (!options.json && out.isTTY) out.write('\n');
  }
  const ok = checks.every((c) => c.ok);
  if (options.json) {
    out.write(`${JSON.stringify({ ok, info: i, checks, bench }, null, 2)}\n`);
  } else {
    for (const [k, v] of rows(i)) out.write(`${k.padEnd(14)}${v}\n`);
    for (const c of checks) out.write(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}\n`);
    if (bench)
      out.write(`bench         ${bench.gflops.toFixed(1)} GFLOP/s (${bench.stepsDone} × 512³ matmul in ${bench.seconds.toFixed(3)} s on ${bench.device})\n`);
  }
  return ok ? 0 : 1;
}
