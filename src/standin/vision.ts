/**
 * `vision_encoder`: `pixel_values` [batch_size, 3, 768, 768] -> `image_features` [batch_size, 577, D].
 *
 * Both variants end as Florence-2's `_encode_image` does: 24x24 tokens + a learned position embedding, then
 * [mean-pooled token ; 576 tokens] (image_feature_source "spatial_avg_pool", "temporal_avg_pool"), a bias-free
 * projection to D and a LayerNorm. tiny gets there with one strided conv; base/large with DaViT's compute
 * (patch convs, window attention, grouped channel attention, conv position encodings, 4x MLPs).
 */
import { type GraphBuilder, ModelBuilder } from "./onnx-builder";
import { floatInput, floatOutput, Layers, type Precision, uniform } from "./nn";
import { type DavitDims, IMAGE_GRID, IMAGE_SIZE, IMAGE_TOKENS, type StandInDims } from "./sizes";

/** [B, C, H, W] -> [B, H*W, C] */
function toTokens(g: GraphBuilder, l: Layers, image: string, channels: number, pixels: number): string {
  return g.op("Transpose", [g.op("Reshape", [image, l.model.int64s([0, channels, pixels])])], { perm: [0, 2, 1] });
}

/** [B, H*W, C] -> [B, C, H, W] */
function toImage(g: GraphBuilder, l: Layers, tokens: string, channels: number, side: number): string {
  return g.op("Reshape", [g.op("Transpose", [tokens], { perm: [0, 2, 1] }), l.model.int64s([0, channels, side, side])]);
}

function mlp(g: GraphBuilder, l: Layers, x: string, name: string, dim: number): string {
  const hidden = l.gelu(g, l.linear(g, x, `${name}.fc1`, dim, 4 * dim));
  return l.linear(g, hidden, `${name}.fc2`, 4 * dim, dim);
}

/** DaViT's ConvPosEnc: tokens + depthwise 3x3 conv of them. */
function convPositionEncoding(g: GraphBuilder, l: Layers, x: string, name: string, dim: number, side: number): string {
  const image = toImage(g, l, x, dim, side);
  const conv = l.conv(g, image, name, { cin: dim, cout: dim, kernel: 3, stride: 1, pad: 1, groups: dim });
  return g.op("Add", [x, toTokens(g, l, conv, dim, side * side)]);
}

/** q, k, v [.., N, C] from one fused projection. */
function qkv(g: GraphBuilder, l: Layers, x: string, name: string, dim: number): string[] {
  const fused = l.linear(g, x, name, dim, 3 * dim);
  return g.node("Split", [fused, l.model.int64s([dim, dim, dim])], { axis: -1 }, { outputs: 3 });
}

/** Multi-head self-attention inside non-overlapping window x window windows. x: [B, side*side, C] */
function windowAttention(g: GraphBuilder, l: Layers, x: string, name: string, dim: number, heads: number, side: number, window: number): string {
  const m = l.model;
  const n = side / window;
  const headDim = dim / heads;
  const grid = g.op("Reshape", [x, m.int64s([-1, n, window, n, window, dim])]);
  const windows = g.op("Reshape", [g.op("Transpose", [grid], { perm: [0, 1, 3, 2, 4, 5] }), m.int64s([-1, window * window, dim])]);
  const [q, k, v] = qkv(g, l, windows, `${name}.qkv`, dim).map((t) =>
    g.op("Transpose", [g.op("Reshape", [t, m.int64s([0, 0, heads, headDim])])], { perm: [0, 2, 1, 3] }),
  ); // [B*nW, heads, w*w, Dh]
  const scores = g.op("MatMul", [g.op("Mul", [q, m.float32s([1 / Math.sqrt(headDim)], [])]), g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]);
  const context = g.op("MatMul", [g.op("Softmax", [scores], { axis: -1 }), v]);
  const merged = g.op("Reshape", [g.op("Transpose", [context], { perm: [0, 2, 1, 3] }), m.int64s([0, 0, dim])]);
  const projected = l.linear(g, merged, `${name}.proj`, dim, dim);
  const back = g.op("Reshape", [projected, m.int64s([-1, n, n, window, window, dim])]);
  return g.op("Reshape", [g.op("Transpose", [back], { perm: [0, 1, 3, 2, 4, 5] }), m.int64s([-1, side * side, dim])]);
}

/** DaViT's grouped channel attention: attention between the channels of each group, over all N tokens. */
function channelAttention(g: GraphBuilder, l: Layers, x: string, name: string, dim: number, groups: number, tokens: number): string {
  const m = l.model;
  const groupDim = dim / groups;
  const [q, k, v] = qkv(g, l, x, `${name}.qkv`, dim).map((t) =>
    g.op("Transpose", [g.op("Reshape", [t, m.int64s([0, 0, groups, groupDim])])], { perm: [0, 2, 1, 3] }),
  ); // [B, G, N, Cg]
  const scaledQ = g.op("Mul", [q, m.float32s([1 / Math.sqrt(tokens)], [])]);
  const attention = g.op("Softmax", [g.op("MatMul", [g.op("Transpose", [scaledQ], { perm: [0, 1, 3, 2] }), k])], { axis: -1 }); // [B, G, Cg, Cg]
  const mixed = g.op("MatMul", [attention, g.op("Transpose", [v], { perm: [0, 1, 3, 2] })]); // [B, G, Cg, N]
  const merged = g.op("Reshape", [g.op("Transpose", [mixed], { perm: [0, 3, 1, 2] }), m.int64s([0, 0, dim])]);
  return l.linear(g, merged, `${name}.proj`, dim, dim);
}

/** One DaViT block: a spatial (window attention) block then a channel (grouped attention) block. */
function davitBlock(g: GraphBuilder, l: Layers, x: string, name: string, stage: { dim: number; heads: number; groups: number; side: number; window: number }): string {
  const { dim, side } = stage;
  let t = x;
  for (const kind of ["spatial_block", "channel_block"] as const) {
    const p = `${name}.${kind}`;
    t = convPositionEncoding(g, l, t, `${p}.conv1`, dim, side);
    const normed = l.layerNorm(g, t, `${p}.norm1`, dim);
    const attended =
      kind === "spatial_block"
        ? windowAttention(g, l, normed, `${p}.window_attn`, dim, stage.heads, side, stage.window)
        : channelAttention(g, l, normed, `${p}.channel_attn`, dim, stage.groups, side * side);
    t = g.op("Add", [t, attended]);
    t = convPositionEncoding(g, l, t, `${p}.conv2`, dim, side);
    t = g.op("Add", [t, mlp(g, l, l.layerNorm(g, t, `${p}.norm2`, dim), `${p}.ffn`, dim)]);
  }
  return t;
}

/** DaViT stages: pixels [B, 3, 768, 768] -> tokens [B, 576, dims[3]]. */
function davit(g: GraphBuilder, l: Layers, pixels: string, v: DavitDims): string {
  let side = IMAGE_SIZE;
  let tokens = "";
  for (let s = 0; s < v.dims.length; s++) {
    const dim = v.dims[s];
    const cin = s === 0 ? 3 : v.dims[s - 1];
    // Stage 0 normalises after its patch conv, later stages before (vision_config.patch_prenorm).
    const input = s === 0 ? pixels : toImage(g, l, l.layerNorm(g, tokens, `convs.${s}.norm`, cin), cin, side);
    const conv = l.conv(g, input, `convs.${s}.proj`, { cin, cout: dim, kernel: v.patchSize[s], stride: v.patchStride[s], pad: v.patchPadding[s] });
    side = Math.floor((side + 2 * v.patchPadding[s] - v.patchSize[s]) / v.patchStride[s]) + 1;
    tokens = toTokens(g, l, conv, dim, side * side);
    if (s === 0) tokens = l.layerNorm(g, tokens, "convs.0.norm", dim);
    for (let d = 0; d < v.depths[s]; d++) {
      tokens = davitBlock(g, l, tokens, `blocks.${s}.${d}`, { dim, heads: v.heads[s], groups: v.groups[s], side, window: v.window });
    }
  }
  if (side !== IMAGE_GRID) throw new Error(`Stand-in DaViT geometry gives a ${side}x${side} grid, expected ${IMAGE_GRID}x${IMAGE_GRID}.`);
  return tokens;
}

export function buildVisionEncoder(dims: StandInDims, precision: Precision, seed: number): ModelBuilder {
  const model = new ModelBuilder("vision_encoder");
  // A graph with a Conv gets uint8 weights in the q8 export (see nn.ts).
  const l = new Layers(model, precision, seed, "uint8");
  const g = l.g;
  const d = dims.text.dModel;
  const pixels = floatInput(l, "pixel_values", ["batch_size", 3, IMAGE_SIZE, IMAGE_SIZE]);
  const cells = IMAGE_GRID * IMAGE_GRID;
  let tokens: string;
  let width: number;
  if (dims.vision.kind === "tiny") {
    width = d;
    const stride = IMAGE_SIZE / IMAGE_GRID;
    const conv = l.conv(g, pixels, "patch_embed", { cin: 3, cout: d, kernel: stride, stride, pad: 0 });
    tokens = toTokens(g, l, conv, d, cells);
  } else {
    width = dims.vision.dims[dims.vision.dims.length - 1];
    tokens = davit(g, l, pixels, dims.vision);
  }
  const positioned = g.op("Add", [tokens, l.weight("image_pos_embed", [cells, width], uniform(width))]); // [B, 576, C]
  const pooled = g.op("ReduceMean", [positioned], { axes: [1], keepdims: 1 }); // [B, 1, C]
  const features = g.op("Concat", [pooled, positioned], { axis: 1 }); // [B, 577, C]
  const projected = l.linear(g, features, "image_projection", width, d, { bias: false });
  floatOutput(l, "image_features", l.layerNorm(g, projected, "image_proj_norm", d), ["batch_size", IMAGE_TOKENS, d]);
  return model;
}
