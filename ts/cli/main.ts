/** The `trnet` command line. */
import { parseArgs } from 'node:util';
import { doctor } from './doctor.js';

const USAGE = `usage: trnet <command> [options]

commands:
  doctor [--json] [--bench] [--device cpu|cuda|cuda:N|auto]
      print the native runtime (trnet, libtorch, CUDA, ONNX Runtime, threads) and check it works;
      --bench also measures libtorch matmul throughput
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'doctor': {
      const { values } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean', default: false }, bench: { type: 'boolean', default: false }, device: { type: 'string', default: 'cpu' } },
        strict: true,
      });
      return doctor({ json: values.json, bench: values.bench, device: values.device });
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`trnet: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}
