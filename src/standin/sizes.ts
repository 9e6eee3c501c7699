/**
 * Stand-in sizes. base and large copy Florence-2-base(-ft) and -large(-ft) (the text_config of each model's
 * config.json: d_model, layers, heads, ffn_dim, vocab_size; DaViT geometry from its vision_config), so files, parameter counts and compute match the real ones; tiny
 * keeps only the real vocabulary, so that real token ids (`<loc_k>` = 50269 + k) flow through it.
 */

export type StandInSize = "tiny" | "base" | "large";

export interface TextDims {
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  heads: number;
  ffn: number;
  vocabSize: number;
  /** Learned positions of encoder and decoder (the table has 2 more rows: BART's offset). */
  maxPositions: number;
}

/** DaViT stages: patch conv (7/4/3 then 3/2/1) + `depths[i]` x (window-attention block, channel-attention block). */
export interface DavitDims {
  kind: "davit";
  dims: readonly number[];
  heads: readonly number[];
  groups: readonly number[];
  depths: readonly number[];
  window: number;
  patchSize: readonly number[];
  patchStride: readonly number[];
  patchPadding: readonly number[];
}

/** One strided conv from 768x768 straight to 24x24 tokens. */
export interface TinyVisionDims {
  kind: "tiny";
}

export interface StandInDims {
  size: StandInSize;
  text: TextDims;
  vision: DavitDims | TinyVisionDims;
}

/** Florence-2 vocabulary: 50,265 BART ids + 1,024 added tokens (config.json's vocab_size; see ADDED_TOKENS). */
export const VOCAB_SIZE = 51289;

/** The vision encoder's token grid for a 768x768 image: 24x24 = 576 tokens, plus one mean-pooled token. */
export const IMAGE_SIZE = 768;
export const IMAGE_GRID = 24;
export const IMAGE_TOKENS = IMAGE_GRID * IMAGE_GRID + 1;

const DAVIT_GEOMETRY = {
  depths: [1, 1, 9, 1],
  window: 12,
  patchSize: [7, 3, 3, 3],
  patchStride: [4, 2, 2, 2],
  patchPadding: [3, 1, 1, 1],
} as const;

export const SIZES: Record<StandInSize, StandInDims> = {
  tiny: {
    size: "tiny",
    text: { dModel: 16, encoderLayers: 1, decoderLayers: 1, heads: 2, ffn: 32, vocabSize: VOCAB_SIZE, maxPositions: 1024 },
    vision: { kind: "tiny" },
  },
  base: {
    size: "base",
    text: { dModel: 768, encoderLayers: 6, decoderLayers: 6, heads: 12, ffn: 3072, vocabSize: VOCAB_SIZE, maxPositions: 1024 },
    vision: { kind: "davit", dims: [128, 256, 512, 1024], heads: [4, 8, 16, 32], groups: [4, 8, 16, 32], ...DAVIT_GEOMETRY },
  },
  large: {
    size: "large",
    text: { dModel: 1024, encoderLayers: 12, decoderLayers: 12, heads: 16, ffn: 4096, vocabSize: VOCAB_SIZE, maxPositions: 4096 },
    vision: { kind: "davit", dims: [256, 512, 1024, 2048], heads: [8, 16, 32, 64], groups: [8, 16, 32, 64], ...DAVIT_GEOMETRY },
  },
};
