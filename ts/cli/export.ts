/** `trnet export <model> --onnx out.onnx`: the SER network of a trained model as one ONNX graph. */
import { load } from '../predict.js';

export interface ExportCommandOptions {
  onnx: string;
  json: boolean;
  allowDifferentEnhancer: boolean;
}

/** Exit code 0 when the file was written; a model that does not load or a path that cannot be written throws. */
export async function exportCommand(modelDir: string, opts: ExportCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const model = await load(modelDir, opts.allowDifferentEnhancer ? { allowDifferentEnhancer: true } : {});
  try {
    const written = await model.exportOnnx(opts.onnx);
    const { inputs, outputs } = written;
    if (opts.json)
      out.write(`${JSON.stringify({ path: written.path, bytes: written.bytes, variant: model.variant, inputs, outputs, classes: model.classes })}\n`);
    else
      out.write(
        `wrote ${written.path} (${written.bytes} bytes): ${model.variant}, inputs ${inputs.join(', ')} → ${outputs.join(', ')}; classes ${model.classes.join(', ')}\n`,
      );
    return 0;
  } finally {
    model.close();
  }
}
