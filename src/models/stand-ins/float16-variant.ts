// The float16 variant of a generated float32 graph, shaped as the `model_fp16.onnx` that Hugging Face
// exports ship: weights stored as float16 and float16 outputs. Inside, each weight is cast back to
// float32 where it is used and the math stays float32 (onnxruntime's CPU provider lacks float16
// kernels for several ops), so the variant differs from the original only by float16 rounding —
// which is what a test of the float16 reading path needs.
import { float32ArrayToFloat16 } from '../float16.ts';
import { DataType, type OnnxInitializer, type OnnxModel, type OnnxNode } from '../onnx-writer.ts';

export function float16Variant(model: OnnxModel): OnnxModel {
  const casts: OnnxNode[] = [];
  const initializers: OnnxInitializer[] = model.initializers.map((init) => {
    if (!(init.data instanceof Float32Array)) return init;
    const stored = `${init.name}.fp16`;
    casts.push({ op: 'Cast', inputs: [stored], outputs: [init.name], attributes: { to: { int: DataType.FLOAT } } });
    return { name: stored, dims: init.dims, data: float32ArrayToFloat16(init.data) };
  });
  // The graph computes each float output under a new name; a last Cast gives it back as float16.
  const renamed = new Map<string, string>();
  for (const out of model.outputs) if (out.type === DataType.FLOAT) renamed.set(out.name, `${out.name}.fp32`);
  const nodes = model.nodes.map((node) => ({
    ...node,
    outputs: node.outputs.map((o) => renamed.get(o) ?? o),
    inputs: node.inputs.map((i) => renamed.get(i) ?? i),
  }));
  for (const [name, internal] of renamed) {
    nodes.push({ op: 'Cast', inputs: [internal], outputs: [name], attributes: { to: { int: DataType.FLOAT16 } } });
  }
  return {
    ...model,
    graphName: `${model.graphName}_fp16`,
    nodes: [...casts, ...nodes],
    initializers,
    outputs: model.outputs.map((out) => (renamed.has(out.name) ? { ...out, type: DataType.FLOAT16 } : out)),
  };
}
