// Writes ONNX model files (ModelProto, protobuf wire format) from a plain description of a graph.
// Only what the generated stand-in models need: nodes with int/float/int-list attributes, float32
// and int64 initialisers, and inputs/outputs with named (dynamic) or fixed dimensions. Written by
// hand so generating a model needs no protobuf library and comes out byte-for-byte the same each time.

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

export type AttributeValue = number | number[] | { int: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Numbers are INT attributes when written as `{ int: n }` or an integer list, FLOAT otherwise. */
  attributes?: Record<string, AttributeValue>;
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  /** Uint16Array holds float16 bits (src/models/float16.ts). */
  data: Float32Array | BigInt64Array | Uint16Array;
}

/** Weights drawn from `next()` (in [0, 1)), spread evenly over [-scale, scale). */
export function randomInitializer(name: string, dims: number[], scale: number, next: () => number): OnnxInitializer {
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i += 1) data[i] = (next() * 2 - 1) * scale;
  return { name, dims, data };
}

/** A constant int64 tensor (shapes, axes, indices); a scalar when `dims` is []. */
export function int64Initializer(name: string, values: number[], dims: number[] = [values.length]): OnnxInitializer {
  return { name, dims, data: BigInt64Array.from(values.map(BigInt)) };
}

export interface OnnxValueInfo {
  name: string;
  type: DataTypeCode;
  /** A number is a fixed size; a string names a dynamic axis (e.g. "batch_size"). */
  shape: Array<number | string>;
}

export interface OnnxModel {
  producer: string;
  opset: number;
  graphName: string;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  docString?: string;
}

// IR version 8 goes with opsets up to 17 (onnx 1.12+); onnxruntime 1.30 reads it.
const IR_VERSION = 8;

/** Protobuf wire format, field by field, into a growing list of byte chunks. */
class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  private varint(value: bigint): void {
    // int64 fields encode negatives as ten-byte two's complement.
    let v = BigInt.asUintN(64, value);
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      out.push(byte);
    } while (v !== 0n);
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wireType: 0 | 2 | 5): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.push(bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(BigInt(value.length));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

/** Tensor data as little-endian bytes (raw_data), whatever the host's byte order. */
function rawData(data: OnnxInitializer['data']): Uint8Array {
  const width = data instanceof Float32Array ? 4 : data instanceof Uint16Array ? 2 : 8;
  const bytes = new Uint8Array(data.length * width);
  const view = new DataView(bytes.buffer);
  if (data instanceof Uint16Array) {
    for (let i = 0; i < data.length; i++) view.setUint16(i * 2, data[i], true);
  } else if (data instanceof Float32Array) {
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  } else {
    for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, data[i], true);
  }
  return bytes;
}

// Field numbers below are those of onnx.proto3.
function writeAttribute(w: ProtoWriter, name: string, value: AttributeValue): void {
  w.string(1, name);
  if (Array.isArray(value)) {
    for (const v of value) w.int(8, v); // ints
    w.int(20, 7); // AttributeType.INTS
  } else if (typeof value === 'object') {
    w.int(3, value.int).int(20, 2); // i, AttributeType.INT
  } else {
    w.float(2, value).int(20, 1); // f, AttributeType.FLOAT
  }
}

function writeValueInfo(w: ProtoWriter, info: OnnxValueInfo): void {
  w.string(1, info.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, info.type);
      tensor.message(2, (shape) => {
        for (const dim of info.shape) {
          shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

function initializerType(data: OnnxInitializer['data']): DataTypeCode {
  if (data instanceof Float32Array) return DataType.FLOAT;
  return data instanceof Uint16Array ? DataType.FLOAT16 : DataType.INT64;
}

export function encodeModel(model: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, IR_VERSION);
  w.string(2, model.producer);
  w.message(7, (graph) => {
    model.nodes.forEach((node, i) => {
      graph.message(1, (n) => {
        for (const input of node.inputs) n.string(1, input);
        for (const output of node.outputs) n.string(2, output);
        n.string(3, `${node.op}_${i}`);
        n.string(4, node.op);
        for (const [name, value] of Object.entries(node.attributes ?? {})) n.message(5, (a) => writeAttribute(a, name, value));
      });
    });
    graph.string(2, model.graphName);
    for (const init of model.initializers) {
      graph.message(5, (t) => {
        for (const dim of init.dims) t.int(1, dim);
        t.int(2, initializerType(init.data));
        t.string(8, init.name);
        t.bytes(9, rawData(init.data));
      });
    }
    if (model.docString) graph.string(10, model.docString);
    for (const input of model.inputs) graph.message(11, (v) => writeValueInfo(v, input));
    for (const output of model.outputs) graph.message(12, (v) => writeValueInfo(v, output));
  });
  w.message(8, (opset) => opset.string(1, '').int(2, model.opset));
  return w.finish();
}
