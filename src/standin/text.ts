/**
 * The language half of a stand-in: `embed_tokens`, `encoder_model` and `decoder_model_merged`, a BART
 * encoder-decoder (post-LayerNorm, learned positions with BART's offset of 2, exact GELU) with the real
 * export's names, dtypes and dims (onnx-community/Florence-2-base-ft's onnx/ files; sessions.ts checks them).
 */
import { cacheTensors } from "../runtime/cache-tensors";
import { type Dim, type GraphBuilder, ModelBuilder, onnxDataType } from "./onnx-builder";
import { Layers, type Precision, uniform, constant, floatInput, floatOutput } from "./nn";
import type { TextDims } from "./sizes";

/** BART's learned positions start at row 2 of the table (fairseq's padding offset). */
const POSITION_OFFSET = 2;
/** Added to the logits of masked positions; large enough to give them probability 0 after softmax. */
const MASKED = -1e9;

/** The decoder's logits rule (see StandInOptions in index.ts). */
export type DecoderMode =
  | { kind: "free" }
  | { kind: "script"; script: readonly number[] }
  | { kind: "restricted"; ids: readonly number[]; sharpness: number; conditioning?: Conditioning };

/**
 * Makes a restricted decoder's choice depend strongly on the encoder's output, so on the image and the prompt.
 * With random weights the cross-attention is nearly uniform over the ~600 encoder positions, so its output
 * hardly changes from one input to another and the choice comes from the decoder's own history. Here the
 * cross-attention queries are scaled by `queryGain` (sharp attention: each query picks a few positions by
 * content), and the last layer's cross-attention output, through its own random [D, V] head, is added to the
 * logits with weight `readoutGain`.
 */
export interface Conditioning {
  queryGain: number;
  readoutGain: number;
}

/** Logit added to the scripted token: far above any logit of the random layers (about ±2). */
export const SCRIPT_LOGIT = 100;
/** Logit added outside `restrictTo`. */
export const RESTRICTED_OUT = -1e4;

function newFile(graphName: string, precision: Precision, seed: number): Layers {
  return new Layers(new ModelBuilder(graphName), precision, seed);
}

/** `input_ids` int64 [batch_size, sequence_length] -> `inputs_embeds` [batch_size, sequence_length, D]. */
export function buildEmbedTokens(dims: TextDims, precision: Precision, seed: number): ModelBuilder {
  const l = newFile("embed_tokens", precision, seed);
  const ids = l.g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
  const embeds = l.embedding(l.g, ids, "embed_tokens.weight", dims.vocabSize, dims.dModel, uniform(dims.dModel));
  floatOutput(l, "inputs_embeds", embeds, ["batch_size", "sequence_length", dims.dModel]);
  return l.model;
}

/** [B, T, D] -> [B, H, T, Dh] */
function splitHeads(g: GraphBuilder, l: Layers, x: string, dims: TextDims): string {
  const headDim = dims.dModel / dims.heads;
  const split = g.op("Reshape", [x, l.model.int64s([0, 0, dims.heads, headDim])]);
  return g.op("Transpose", [split], { perm: [0, 2, 1, 3] });
}

/** softmax(q k^T + mask) v for q [B,H,T,Dh] (already scaled), k/v [B,H,S,Dh] -> [B, T, D] */
function attend(g: GraphBuilder, l: Layers, q: string, k: string, v: string, mask: string, dims: TextDims): string {
  const scores = g.op("Add", [g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]), mask]);
  const context = g.op("MatMul", [g.op("Softmax", [scores], { axis: -1 }), v]); // [B, H, T, Dh]
  const merged = g.op("Transpose", [context], { perm: [0, 2, 1, 3] });
  return g.op("Reshape", [merged, l.model.int64s([0, 0, dims.dModel])]);
}

/** The query projection, scaled by Dh^-0.5 as BART does before the product with the keys. */
function scaledQuery(g: GraphBuilder, l: Layers, h: string, name: string, dims: TextDims): string {
  const q = l.linear(g, h, name, dims.dModel, dims.dModel);
  const scaled = g.op("Mul", [q, l.model.float32s([1 / Math.sqrt(dims.dModel / dims.heads)], [])]);
  return splitHeads(g, l, scaled, dims);
}

function feedForward(g: GraphBuilder, l: Layers, h: string, prefix: string, dims: TextDims): string {
  const inner = l.gelu(g, l.linear(g, h, `${prefix}.fc1`, dims.dModel, dims.ffn));
  const out = l.linear(g, inner, `${prefix}.fc2`, dims.ffn, dims.dModel);
  return l.layerNorm(g, g.op("Add", [h, out]), `${prefix}.final_layer_norm`, dims.dModel);
}

/** [B, S] int64 mask of 1/0 -> additive [B, 1, 1, S] float mask of 0/MASKED. */
function additivePaddingMask(g: GraphBuilder, l: Layers, mask: string): string {
  const m = g.op("Cast", [mask], { to: onnxDataType("float32") });
  const blocked = g.op("Mul", [g.op("Sub", [l.model.float32s([1], []), m]), l.model.float32s([MASKED], [])]);
  return g.op("Unsqueeze", [blocked, l.model.int64s([1, 2])]);
}

/** [T, D] learned positions for absolute positions `positions` [T]. */
function positionEmbeddings(g: GraphBuilder, l: Layers, positions: string, name: string, dims: TextDims): string {
  const rows = g.op("Add", [positions, l.model.int64s([POSITION_OFFSET], [])]);
  return l.embedding(g, rows, name, dims.maxPositions + POSITION_OFFSET, dims.dModel, uniform(dims.dModel));
}

/** `inputs_embeds` [B, S, D] + `attention_mask` int64 [B, S] -> `last_hidden_state` [B, S, D]. */
export function buildEncoder(dims: TextDims, precision: Precision, seed: number): ModelBuilder {
  const l = newFile("encoder_model", precision, seed);
  const g = l.g;
  const model = l.model;
  const seq: Dim[] = ["batch_size", "encoder_sequence_length"];
  const x = floatInput(l, "inputs_embeds", [...seq, dims.dModel]);
  const mask = additivePaddingMask(g, l, g.input("attention_mask", "int64", seq));
  const length = g.op("Squeeze", [g.op("Shape", [x], { start: 1, end: 2 })]);
  const positions = g.op("Range", [model.int64s([0], []), length, model.int64s([1], [])]); // [S]
  const withPositions = g.op("Add", [x, positionEmbeddings(g, l, positions, "encoder.embed_positions.weight", dims)]);
  let h = l.layerNorm(g, withPositions, "encoder.layernorm_embedding", dims.dModel);
  for (let i = 0; i < dims.encoderLayers; i++) {
    const p = `encoder.layers.${i}`;
    const q = scaledQuery(g, l, h, `${p}.self_attn.q_proj`, dims);
    const k = splitHeads(g, l, l.linear(g, h, `${p}.self_attn.k_proj`, dims.dModel, dims.dModel), dims);
    const v = splitHeads(g, l, l.linear(g, h, `${p}.self_attn.v_proj`, dims.dModel, dims.dModel), dims);
    const attended = l.linear(g, attend(g, l, q, k, v, mask, dims), `${p}.self_attn.out_proj`, dims.dModel, dims.dModel);
    h = l.layerNorm(g, g.op("Add", [h, attended]), `${p}.self_attn_layer_norm`, dims.dModel);
    h = feedForward(g, l, h, p, dims);
  }
  floatOutput(l, "last_hidden_state", h, [...seq, dims.dModel]);
  return l.model;
}

/** Values the decoder branches read from the main graph (float32 whatever the file's I/O dtype). */
interface DecoderInputs {
  inputsEmbeds: string; // [B, T, D]
  encoderHiddenStates: string; // [B, S, D]
  encoderAttentionMask: string; // int64 [B, S]
  past: { decoderKey: string; decoderValue: string; encoderKey: string; encoderValue: string }[]; // [B, H, P|S, Dh]
}

/** Names of the decoder's outputs, in the export's order: logits, then per layer dec.key, dec.value, enc.key, enc.value. */
export function decoderOutputNames(layers: number): string[] {
  return ["logits", ...cacheTensors(layers).map((c) => c.present)];
}

/**
 * One branch of the merged decoder. Without cache (step 0, or a whole sequence at once) it computes the
 * cross-attention K/V from `encoder_hidden_states`; with cache it appends to the past self-attention K/V and
 * passes the past cross-attention K/V through. Queries sit at absolute positions past_len + t, t < T, and
 * attend causally. Returns the branch's output values in `decoderOutputNames` order.
 */
function decoderBranch(l: Layers, g: GraphBuilder, useCache: boolean, input: DecoderInputs, dims: TextDims, mode: DecoderMode) {
  const m = l.model;
  const x = input.inputsEmbeds;
  const newLength = g.op("Shape", [x], { start: 1, end: 2 }); // [1] = T
  const pastLength = useCache ? g.op("Shape", [input.past[0].decoderKey], { start: 2, end: 3 }) : m.int64s([0]); // [1] = P
  const totalLength = g.op("Add", [pastLength, newLength]);
  const one = m.int64s([1], []);
  const positions = g.op("Range", [g.op("Squeeze", [pastLength]), g.op("Squeeze", [totalLength]), one]); // [T]
  const keyPositions = g.op("Range", [m.int64s([0], []), g.op("Squeeze", [totalLength]), one]); // [P + T]
  const future = g.op("Greater", [
    g.op("Unsqueeze", [keyPositions, m.int64s([0])]),
    g.op("Unsqueeze", [positions, m.int64s([1])]),
  ]); // [T, P + T]
  const causalMask = g.op("Where", [future, m.float32s([MASKED], []), m.float32s([0], [])]);
  const crossMask = additivePaddingMask(g, l, input.encoderAttentionMask);

  const withPositions = g.op("Add", [x, positionEmbeddings(g, l, positions, "decoder.embed_positions.weight", dims)]);
  let h = l.layerNorm(g, withPositions, "decoder.layernorm_embedding", dims.dModel);
  const presents: string[] = [];
  let lastCrossOut = "";
  for (let i = 0; i < dims.decoderLayers; i++) {
    const p = `decoder.layers.${i}`;
    const past = input.past[i];
    const q = scaledQuery(g, l, h, `${p}.self_attn.q_proj`, dims);
    let k = splitHeads(g, l, l.linear(g, h, `${p}.self_attn.k_proj`, dims.dModel, dims.dModel), dims);
    let v = splitHeads(g, l, l.linear(g, h, `${p}.self_attn.v_proj`, dims.dModel, dims.dModel), dims);
    if (useCache) {
      k = g.op("Concat", [past.decoderKey, k], { axis: 2 });
      v = g.op("Concat", [past.decoderValue, v], { axis: 2 });
    }
    const selfOut = l.linear(g, attend(g, l, q, k, v, causalMask, dims), `${p}.self_attn.out_proj`, dims.dModel, dims.dModel);
    h = l.layerNorm(g, g.op("Add", [h, selfOut]), `${p}.self_attn_layer_norm`, dims.dModel);

    const qc = sharpened(g, l, scaledQuery(g, l, h, `${p}.encoder_attn.q_proj`, dims), mode);
    const enc = input.encoderHiddenStates;
    const kc = useCache ? past.encoderKey : splitHeads(g, l, l.linear(g, enc, `${p}.encoder_attn.k_proj`, dims.dModel, dims.dModel), dims);
    const vc = useCache ? past.encoderValue : splitHeads(g, l, l.linear(g, enc, `${p}.encoder_attn.v_proj`, dims.dModel, dims.dModel), dims);
    const crossOut = l.linear(g, attend(g, l, qc, kc, vc, crossMask, dims), `${p}.encoder_attn.out_proj`, dims.dModel, dims.dModel);
    lastCrossOut = crossOut;
    h = l.layerNorm(g, g.op("Add", [h, crossOut]), `${p}.encoder_attn_layer_norm`, dims.dModel);
    h = feedForward(g, l, h, p, dims);
    // With the cache, the cross-attention K/V are not recomputed and not returned: like optimum's
    // `merge_decoders` (`_unify_onnx_outputs` adds a constant with the first dynamic dim 0, the others 1),
    // the branch answers present.i.encoder.* with an empty [0, H, 1, Dh] constant. Echoing the past would copy
    // every row's cross-attention cache at every step, a cost the real export does not have.
    presents.push(k, v, useCache ? emptyCrossPresent(l, dims) : kc, useCache ? emptyCrossPresent(l, dims) : vc);
  }
  const logits = applyMode(g, l, withReadout(g, l, lmHead(g, l, h, dims), lastCrossOut, mode, dims), positions, mode, dims);
  return [logits, ...presents];
}

/** Cross-attention queries [B, H, T, Dh], scaled by a conditioned decoder's query gain. */
function sharpened(g: GraphBuilder, l: Layers, query: string, mode: DecoderMode): string {
  if (mode.kind !== "restricted" || !mode.conditioning) return query;
  return g.op("Mul", [query, l.model.float32s([mode.conditioning.queryGain], [])]);
}

/** logits [B, T, V] plus a conditioned decoder's read-out of the cross-attention output crossOut [B, T, D]. */
function withReadout(g: GraphBuilder, l: Layers, logits: string, crossOut: string, mode: DecoderMode, dims: TextDims): string {
  if (mode.kind !== "restricted" || !mode.conditioning) return logits;
  const readout = l.linear(g, crossOut, "conditioning_head", dims.dModel, dims.vocabSize, { bias: false });
  return g.op("Add", [logits, g.op("Mul", [readout, l.model.float32s([mode.conditioning.readoutGain], [])])]);
}

/** The cache branch's present.i.encoder.* (see decoderBranch): an empty [0, H, 1, Dh] float32 constant. */
function emptyCrossPresent(l: Layers, dims: TextDims): string {
  return l.model.float32s([], [0, dims.heads, 1, dims.dModel / dims.heads]);
}

/**
 * h [B, T, D] -> logits [B, T, V]: the LM head (a MatMul on a [D, V] initializer, as exported) + final_logits_bias.
 * Unlike BART the stand-in does not tie the head to the token embedding: with random tied weights every token's
 * own logit stands out (h is mostly its input embedding), so the decoder would mostly repeat its input.
 */
function lmHead(g: GraphBuilder, l: Layers, h: string, dims: TextDims): string {
  const logits = l.linear(g, h, "lm_head", dims.dModel, dims.vocabSize, { bias: false });
  return g.op("Add", [logits, l.weight("final_logits_bias", [dims.vocabSize], constant(0))]);
}

/** Scripted or restricted logits (see `DecoderMode` and StandInOptions.script / restrictTo); the random layers still run either way. */
function applyMode(g: GraphBuilder, l: Layers, logits: string, positions: string, mode: DecoderMode, dims: TextDims): string {
  const m = l.model;
  switch (mode.kind) {
    case "free":
      return logits;
    case "script": {
      // token for query position p: script[min(p, len - 1)], so the script's last id (</s>) repeats after its end.
      const script = m.int64s(mode.script);
      const index = g.op("Min", [positions, m.int64s([mode.script.length - 1], [])]);
      const forced = g.op("OneHot", [g.op("Gather", [script, index]), m.int64s([dims.vocabSize], []), m.float32s([0, SCRIPT_LOGIT])], { axis: -1 });
      return g.op("Add", [logits, forced]); // [B, T, V] + [T, V]
    }
    case "restricted": {
      const outside = () => {
        const values = new Float32Array(dims.vocabSize).fill(RESTRICTED_OUT);
        for (const id of mode.ids) values[id] = 0;
        return values;
      };
      const mask = l.weight("restrict_to_mask", [dims.vocabSize], { kind: "data", make: outside });
      return g.op("Add", [g.op("Mul", [logits, m.float32s([mode.sharpness], [])]), mask]);
    }
  }
}

/**
 * `decoder_model_merged`: one top-level `If` on `use_cache_branch` (then = with cache, else = without), whose
 * branches share the weights as outer-scope initializers.
 */
export function buildDecoderMerged(dims: TextDims, precision: Precision, seed: number, mode: DecoderMode): ModelBuilder {
  const l = newFile("decoder_model_merged", precision, seed);
  const g = l.g;
  const model = l.model;
  const heads = dims.heads;
  const headDim = dims.dModel / dims.heads;
  const input: DecoderInputs = {
    inputsEmbeds: floatInput(l, "inputs_embeds", ["batch_size", "decoder_sequence_length", dims.dModel]),
    encoderHiddenStates: floatInput(l, "encoder_hidden_states", ["batch_size", "encoder_sequence_length", dims.dModel]),
    encoderAttentionMask: g.input("encoder_attention_mask", "int64", ["batch_size", "encoder_sequence_length"]),
    past: [],
  };
  const useCache = g.input("use_cache_branch", "bool", [1]);
  // The export's symbolic dim names for the cache length: past tokens (self-attention) or encoder positions.
  const lengthDim = { decoder: "past_decoder_sequence_length", encoder: "encoder_sequence_length_out" } as const;
  const past = cacheTensors(dims.decoderLayers).map((c) => floatInput(l, c.past, ["batch_size", heads, lengthDim[c.attention], headDim]));
  for (let i = 0; i < dims.decoderLayers; i++) {
    // cacheTensors' order within a layer: decoder.key, decoder.value, encoder.key, encoder.value.
    const [decoderKey, decoderValue, encoderKey, encoderValue] = past.slice(4 * i, 4 * i + 4);
    input.past.push({ decoderKey, decoderValue, encoderKey, encoderValue });
  }

  const names = decoderOutputNames(dims.decoderLayers);
  const branch = (cached: boolean) => {
    const sub = model.subgraph(cached ? "decoder_with_past" : "decoder_without_past");
    const values = decoderBranch(l, sub, cached, input, dims, mode);
    values.forEach((value, i) => sub.output(`${sub.name}/${names[i]}`, value, "float32"));
    return sub;
  };
  const thenBranch = branch(true);
  const elseBranch = branch(false);
  const ifOutputs = precision === "fp16" ? names.map((n) => `${n}_float32`) : names;
  const results = g.node("If", [useCache], { then_branch: thenBranch, else_branch: elseBranch }, { outputs: ifOutputs });

  const outputDims = (name: string): Dim[] => {
    if (name === "logits") return ["batch_size", "decoder_sequence_length", dims.vocabSize];
    const length = name.includes(".decoder.") ? "past_decoder_sequence_length + 1" : "encoder_sequence_length_out";
    return ["batch_size", heads, length, headDim];
  };
  names.forEach((name, i) => floatOutput(l, name, results[i], outputDims(name)));
  return model;
}

