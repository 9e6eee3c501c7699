/**
 * A small ONNX graph builder on the `onnx-proto` protobuf definitions: graph inputs and outputs with symbolic
 * dims, initializers (written as external data above a size threshold, as the real export does), op nodes with
 * typed attributes, and `If` subgraphs whose weights are outer-scope initializers of the model's main graph, so
 * both branches of the merged decoder share one copy.
 *
 * Initializer data is a thunk, called once while the file is written: the base stand-in holds about 1.1 GB of
 * weights, and this way only the tensor being written is in memory.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { onnx } from "onnx-proto";

export type ElemType = "float32" | "float16" | "int64" | "int32" | "int8" | "uint8" | "bool";

/** A dimension: a number is fixed, a string is a symbolic dim such as "batch_size". */
export type Dim = number | string;

/** Raw element storage; float16 is held as its 16-bit patterns and bool as bytes. */
export type TensorData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

const DATA_TYPE: Record<ElemType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** ONNX `TensorProto.DataType` number of an element type, e.g. for Cast's `to` attribute. */
export function onnxDataType(type: ElemType): number {
  return DATA_TYPE[type];
}

/** Marks a number as a FLOAT attribute; plain numbers are INT attributes. */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export const float = (value: number): FloatAttr => new FloatAttr(value);

export type AttrValue = number | readonly number[] | string | FloatAttr | GraphBuilder;
export type Attrs = Record<string, AttrValue>;

interface InitializerSpec {
  name: string;
  type: ElemType;
  dims: readonly number[];
  data: () => TensorData;
}

export interface SaveOptions {
  /** Tensors of at least this many bytes go to `<file>_data` (the real export uses `<name>.onnx_data`). */
  externalThresholdBytes?: number;
}

function valueInfo(name: string, type: ElemType, dims?: readonly Dim[]): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType: DATA_TYPE[type] };
  if (dims) {
    tensorType.shape = { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) };
  }
  return { name, type: { tensorType } };
}

function attribute(name: string, value: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (value instanceof FloatAttr) return { name, type: T.FLOAT, f: value.value };
  if (value instanceof GraphBuilder) return { name, type: T.GRAPH, g: value.toProto() };
  if (typeof value === "string") return { name, type: T.STRING, s: Buffer.from(value, "utf8") };
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error(`Attribute ${name}=${value} is not an integer; wrap floats in float().`);
    return { name, type: T.INT, i: value };
  }
  return { name, type: T.INTS, ints: [...value] };
}

/** One graph: the model's main graph, or a subgraph (an `If` branch) of it. */
export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];

  constructor(
    readonly model: ModelBuilder,
    readonly name: string,
  ) {}

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.model.claim(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares `value` as the graph output `name` (through an Identity when the names differ). */
  output(name: string, value: string, type: ElemType, dims?: readonly Dim[]): void {
    if (value !== name) this.node("Identity", [value], {}, { outputs: [name] });
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** Adds a node and returns its output names (fresh names unless given). */
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Attrs = {},
    options: { outputs?: number | readonly string[]; domain?: string } = {},
  ): string[] {
    const outputs =
      typeof options.outputs === "object"
        ? options.outputs.map((o) => this.model.claim(o))
        : Array.from({ length: options.outputs ?? 1 }, () => this.model.fresh(opType));
    this.nodes.push({
      opType,
      domain: options.domain ?? "",
      name: this.model.fresh(`${opType}_node`),
      input: [...inputs],
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** Adds a single-output node and returns its output name. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, domain?: string): string {
    return this.node(opType, inputs, attrs, { domain })[0];
  }

  toProto(): onnx.IGraphProto {
    return { name: this.name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: [] };
  }
}

/** A model: its main graph, its initializers (shared by every subgraph) and its opset imports. */
export class ModelBuilder {
  readonly graph: GraphBuilder;
  private readonly initializers: InitializerSpec[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();
  private readonly opsets = new Map<string, number>([["", 17]]);
  private counter = 0;

  constructor(graphName: string) {
    this.graph = new GraphBuilder(this, graphName);
  }

  /** Reserves an exact value name; ONNX names are single-assignment across a graph and its subgraphs. */
  claim(name: string): string {
    if (this.names.has(name)) throw new Error(`Stand-in graph bug: value name "${name}" is used twice.`);
    this.names.add(name);
    return name;
  }

  fresh(hint: string): string {
    let name: string;
    do name = `${hint}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  subgraph(name: string): GraphBuilder {
    return new GraphBuilder(this, name);
  }

  useDomain(domain: string, version: number): void {
    this.opsets.set(domain, version);
  }

  /** A weight or constant tensor; `data` may be a thunk, called once when the model is saved. */
  initializer(name: string, type: ElemType, dims: readonly number[], data: TensorData | (() => TensorData)): string {
    this.claim(name);
    return this.addInitializer(name, type, dims, data);
  }

  private addInitializer(name: string, type: ElemType, dims: readonly number[], data: TensorData | (() => TensorData)): string {
    this.initializers.push({ name, type, dims, data: typeof data === "function" ? data : () => data });
    return name;
  }

  /** A small int64 constant (axes, shapes, indices), shared by every node that asks for the same values. */
  int64s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant("int64", values, dims, () => BigInt64Array.from(values, (v) => BigInt(v)));
  }

  /** A small float32 constant; `dims` [] gives a scalar. */
  float32s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant("float32", values, dims, () => Float32Array.from(values));
  }

  private constant(type: ElemType, values: readonly number[], dims: readonly number[], make: () => TensorData): string {
    const key = `${type}:${dims.join("x")}:${values.join(",")}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.addInitializer(this.fresh(`const_${type}`), type, dims, make());
    this.constants.set(key, name);
    return name;
  }

  /** Writes `file` (and `file + "_data"` when some tensor is large); returns the files written. */
  save(file: string, options: SaveOptions = {}): string[] {
    const threshold = options.externalThresholdBytes ?? 1024;
    const dataFile = `${file}_data`;
    const written: string[] = [];
    let fd: number | undefined;
    let offset = 0;
    try {
      const tensors = this.initializers.map((spec): onnx.ITensorProto => {
        const data = spec.data();
        const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        const tensor: onnx.ITensorProto = { name: spec.name, dataType: DATA_TYPE[spec.type], dims: [...spec.dims] };
        if (bytes.length < threshold) {
          tensor.rawData = Buffer.from(bytes);
          return tensor;
        }
        if (fd === undefined) {
          fd = fs.openSync(dataFile, "w");
          written.push(dataFile);
        }
        fs.writeSync(fd, bytes, 0, bytes.length, offset);
        tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        tensor.externalData = [
          { key: "location", value: path.basename(dataFile) },
          { key: "offset", value: String(offset) },
          { key: "length", value: String(bytes.length) },
        ];
        // 64-byte alignment keeps every tensor's start aligned for onnxruntime's memory-mapped loading.
        offset += Math.ceil(bytes.length / 64) * 64;
        return tensor;
      });
      const graph = this.graph.toProto();
      graph.initializer = tensors;
      const model = onnx.ModelProto.create({
        irVersion: 8,
        producerName: "florence2-ts stand-in generator",
        opsetImport: [...this.opsets].map(([domain, version]) => ({ domain, version })),
        graph,
      });
      fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
      written.unshift(file);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    return written;
  }
}
