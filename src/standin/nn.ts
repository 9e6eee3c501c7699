/**
 * Layers for the stand-in graphs, written once for every precision the real export ships:
 * - fp32: float32 weights, MatMul/Conv/Gather;
 * - fp16: float16 weights (half the file size, as the `_fp16` export), each Cast to float32 in the main graph;
 *   onnxruntime folds those Casts at load, so the arithmetic is float32 (its CPU provider lacks float16 kernels
 *   for most of these ops); the file's float inputs and outputs are float16 (`floatInput`, `floatOutput`);
 * - q8: the form `onnxruntime.quantization.quantize_dynamic` gives the `_quantized` export: per-tensor weights
 *   (int8 symmetric; uint8 asymmetric in a graph with a Conv, which is how transformers.js' quantize script picks
 *   the weight type, because ConvInteger takes only uint8), MatMul -> DynamicQuantizeLinear + MatMulInteger + Cast
 *   + Mul by the two scales (onnxruntime fuses that into MatMulIntegerToFloat at load), Conv -> ConvInteger likewise,
 *   Gather of a weight table -> Gather on the quantized table + DequantizeLinear. MatMuls between two activations
 *   (attention scores) stay float32, as quantize_dynamic's default `MatMulConstBOnly` leaves them.
 */
import { type Dim, float, type GraphBuilder, type ModelBuilder, onnxDataType } from "./onnx-builder";
import { fillUniform, hashSeed } from "./prng";
import { float32ToFloat16 } from "../runtime/float16";

export type Precision = "fp32" | "fp16" | "q8";

/** How a weight's values are made. `key` names the random stream, so two tensors with one key are tied. */
export type WeightInit =
  | { kind: "uniform"; bound: number; key?: string }
  | { kind: "constant"; value: number }
  | { kind: "data"; make: () => Float32Array };

export const uniform = (fanIn: number, key?: string): WeightInit => ({ kind: "uniform", bound: 1 / Math.sqrt(fanIn), key });
export const constant = (value: number): WeightInit => ({ kind: "constant", value });

interface Quantized {
  values: Int8Array | Uint8Array;
  scale: number;
  zeroPoint: number;
}

export class Layers {
  readonly g: GraphBuilder;
  private readonly pending = new Map<string, Quantized>();
  /** Weights already in the model, by name: both branches of the merged decoder use one copy. */
  private readonly made = new Map<string, { dims: string; value: unknown }>();

  constructor(
    readonly model: ModelBuilder,
    readonly precision: Precision,
    readonly seed: number,
    /** q8 only: uint8 in a graph with a Conv, else int8 (see the file comment). */
    readonly q8WeightType: "int8" | "uint8" = "int8",
  ) {
    this.g = model.graph;
  }

  values(name: string, count: number, init: WeightInit): Float32Array {
    switch (init.kind) {
      case "uniform":
        return fillUniform(new Float32Array(count), hashSeed(this.seed, init.key ?? name), init.bound);
      case "constant":
        return new Float32Array(count).fill(init.value);
      case "data":
        return init.make();
    }
  }

  /** A float32 value (initializer, or Cast of a float16 one) usable from the main graph and its subgraphs. */
  weight(name: string, dims: readonly number[], init: WeightInit): string {
    return this.once(name, dims, () => this.newWeight(name, dims, init));
  }

  private once<T>(name: string, dims: readonly number[], make: () => T): T {
    const known = this.made.get(name);
    if (known) {
      if (known.dims !== dims.join("x")) throw new Error(`Stand-in graph bug: weight ${name} reused with dims ${dims.join("x")} (made ${known.dims}).`);
      return known.value as T;
    }
    const value = make();
    this.made.set(name, { dims: dims.join("x"), value });
    return value;
  }

  private newWeight(name: string, dims: readonly number[], init: WeightInit): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (this.precision !== "fp16") return this.model.initializer(name, "float32", dims, () => this.values(name, count, init));
    const half = this.model.initializer(name, "float16", dims, () => float32ToFloat16(this.values(name, count, init)));
    return this.g.op("Cast", [half], { to: onnxDataType("float32") });
  }

  /** `x @ W + b` with W [inDim, outDim] (torch's Linear as exported: a MatMul on the transposed weight). */
  linear(
    g: GraphBuilder,
    x: string,
    name: string,
    inDim: number,
    outDim: number,
    options: { bias?: boolean; init?: WeightInit } = {},
  ): string {
    const init = options.init ?? uniform(inDim);
    let y: string;
    if (this.precision === "q8") {
      const w = this.quantizedWeight(`${name}.weight`, [inDim, outDim], init);
      const [xq, xScale, xZero] = g.node("DynamicQuantizeLinear", [x], {}, { outputs: 3 });
      const yInt = g.op("MatMulInteger", [xq, w.values, xZero, w.zeroPoint]);
      const yFloat = g.op("Cast", [yInt], { to: onnxDataType("float32") });
      y = g.op("Mul", [yFloat, g.op("Mul", [xScale, w.scale])]);
    } else {
      y = g.op("MatMul", [x, this.weight(`${name}.weight`, [inDim, outDim], init)]);
    }
    if (options.bias === false) return y;
    return g.op("Add", [y, this.weight(`${name}.bias`, [outDim], constant(0))]);
  }

  /** Rows of a [rows, dim] weight table: `table[ids]` -> [...ids.shape, dim]. */
  embedding(g: GraphBuilder, ids: string, name: string, rows: number, dim: number, init: WeightInit): string {
    if (this.precision !== "q8") return g.op("Gather", [this.weight(name, [rows, dim], init), ids]);
    const w = this.quantizedWeight(name, [rows, dim], init);
    return g.op("DequantizeLinear", [g.op("Gather", [w.values, ids]), w.scale, w.zeroPoint]);
  }

  /** LayerNorm over the last axis, weight 1 and bias 0 as freshly initialised. */
  layerNorm(g: GraphBuilder, x: string, name: string, dim: number): string {
    const scale = this.weight(`${name}.weight`, [dim], constant(1));
    const bias = this.weight(`${name}.bias`, [dim], constant(0));
    return g.op("LayerNormalization", [x, scale, bias], { axis: -1, epsilon: float(1e-5) });
  }

  /**
   * Exact (erf) GELU in the node pattern torch exports, x * (erf(x / sqrt 2) + 1) * 0.5, which onnxruntime's
   * GeluFusion turns into one Gelu kernel (a Mul by 1/sqrt 2 instead of the Div is not fused).
   */
  gelu(g: GraphBuilder, x: string): string {
    const erf = g.op("Erf", [g.op("Div", [x, this.model.float32s([Math.SQRT2], [])])]);
    const onePlus = g.op("Add", [erf, this.model.float32s([1], [])]);
    return g.op("Mul", [g.op("Mul", [x, onePlus]), this.model.float32s([0.5], [])]);
  }

  /** 2-D convolution with bias, NCHW; `groups` = channels gives a depthwise conv. */
  conv(
    g: GraphBuilder,
    x: string,
    name: string,
    shape: { cin: number; cout: number; kernel: number; stride: number; pad: number; groups?: number },
  ): string {
    const groups = shape.groups ?? 1;
    const wDims = [shape.cout, shape.cin / groups, shape.kernel, shape.kernel];
    const init = uniform((shape.cin / groups) * shape.kernel * shape.kernel);
    const attrs = {
      kernel_shape: [shape.kernel, shape.kernel],
      strides: [shape.stride, shape.stride],
      pads: [shape.pad, shape.pad, shape.pad, shape.pad],
      group: groups,
    };
    const bias = this.weight(`${name}.bias`, [shape.cout], constant(0));
    if (this.precision !== "q8") return g.op("Conv", [x, this.weight(`${name}.weight`, wDims, init), bias], attrs);
    const w = this.quantizedWeight(`${name}.weight`, wDims, init);
    const [xq, xScale, xZero] = g.node("DynamicQuantizeLinear", [x], {}, { outputs: 3 });
    const yInt = g.op("ConvInteger", [xq, w.values, xZero, w.zeroPoint], attrs);
    const yFloat = g.op("Cast", [yInt], { to: onnxDataType("float32") });
    const y = g.op("Mul", [yFloat, g.op("Mul", [xScale, w.scale])]);
    return g.op("Add", [y, g.op("Reshape", [bias, this.model.int64s([1, shape.cout, 1, 1])])]);
  }

  /**
   * The three initializers quantize_dynamic writes for a weight W: `W_quantized`, `W_scale`, `W_zero_point`.
   * The values are computed once, when the first of them is saved, and dropped after the last.
   */
  private quantizedWeight(name: string, dims: readonly number[], init: WeightInit) {
    return this.once(name, dims, () => this.newQuantizedWeight(name, dims, init));
  }

  private newQuantizedWeight(name: string, dims: readonly number[], init: WeightInit) {
    const count = dims.reduce((a, b) => a * b, 1);
    const get = (): Quantized => {
      let q = this.pending.get(name);
      if (!q) {
        q = quantize(this.values(name, count, init), this.q8WeightType);
        this.pending.set(name, q);
      }
      return q;
    };
    const type = this.q8WeightType;
    const values = this.model.initializer(`${name}_quantized`, type, dims, () => get().values);
    const scale = this.model.initializer(`${name}_scale`, "float32", [], () => Float32Array.of(get().scale));
    const zeroPoint = this.model.initializer(`${name}_zero_point`, type, [], () => {
      const zp = get().zeroPoint;
      this.pending.delete(name);
      return type === "int8" ? Int8Array.of(zp) : Uint8Array.of(zp);
    });
    return { values, scale, zeroPoint };
  }
}

/**
 * Per-tensor quantization as onnxruntime's `quantize_data`: int8 symmetric (zero point 0, range ±127),
 * uint8 asymmetric over [min(w, 0), max(w, 0)].
 */
export function quantize(w: Float32Array, type: "int8" | "uint8"): Quantized {
  let min = 0;
  let max = 0;
  for (let i = 0; i < w.length; i++) {
    if (w[i] < min) min = w[i];
    else if (w[i] > max) max = w[i];
  }
  if (type === "int8") {
    const absMax = Math.max(-min, max);
    const scale = absMax > 0 ? absMax / 127 : 1;
    const inverse = 1 / scale;
    // Rounded in a clamped array offset by 128 (see below), then the offset removed: flipping the top bit of
    // q + 128 gives q's two's complement byte. Several times faster than Math.round per value.
    const shifted = new Uint8ClampedArray(w.length);
    for (let i = 0; i < w.length; i++) shifted[i] = w[i] * inverse + 128;
    for (let i = 0; i < shifted.length; i++) shifted[i] ^= 0x80;
    return { values: new Int8Array(shifted.buffer), scale, zeroPoint: 0 };
  }
  const scale = max > min ? (max - min) / 255 : 1;
  const inverse = 1 / scale;
  const zeroPoint = Math.round(-min * inverse);
  // A clamped array rounds half to even and clamps to 0..255 on assignment, as numpy's rint + clip do.
  const values = new Uint8ClampedArray(w.length);
  for (let i = 0; i < w.length; i++) values[i] = w[i] * inverse + zeroPoint;
  return { values: new Uint8Array(values.buffer), scale, zeroPoint };
}

/** A float input of the file (float16 in an _fp16 file) as a float32 value. */
export function floatInput(l: Layers, name: string, dims: readonly Dim[]): string {
  if (l.precision !== "fp16") return l.g.input(name, "float32", dims);
  return l.g.op("Cast", [l.g.input(name, "float16", dims)], { to: onnxDataType("float32") });
}

/** A float output of the file (float16 in an _fp16 file) from a float32 value. */
export function floatOutput(l: Layers, name: string, value: string, dims: readonly Dim[]): void {
  if (l.precision !== "fp16") return l.g.output(name, value, "float32", dims);
  l.g.node("Cast", [value], { to: onnxDataType("float16") }, { outputs: [name] });
  l.g.output(name, name, "float16", dims);
}
