/**
 * Prompts as the encoder takes them: a task and its input -> prompt text (prompts.ts) -> token ids, checked to
 * fit the encoder beside the image tokens. Everything but pixel boxes is encoded when a request is checked; a
 * pixel box waits for its image's size.
 */
import type { ImageSize } from "../image/rgb-image";
import { buildPrompt, checkPromptLength, type PixelBox } from "./prompts";
import type { Florence2Tokenizer } from "./tokenizer";

export class PromptEncoder {
  constructor(
    private readonly tokenizer: Florence2Tokenizer,
    /** The vision encoder's tokens per image (preprocessor_config.json's image_seq_length, 577). */
    private readonly imageTokens: number,
    /** config.json's max_position_embeddings. */
    private readonly maxPositions: number,
  ) {}

  /** Whether the input needs the image's size before it can be encoded (a pixel box). */
  static needsImageSize(input: string | PixelBox | undefined): boolean {
    return typeof input === "object" && input !== null;
  }

  /** The ids of a task's prompt (`imageSize` only for pixel boxes). */
  task(token: string, input: string | PixelBox | undefined, imageSize?: ImageSize): number[] {
    return this.text(buildPrompt(token, input, imageSize));
  }

  /** The ids of a prompt text, `<s>` ... `</s>`. */
  text(prompt: string): number[] {
    const ids = this.tokenizer.encode(prompt);
    checkPromptLength(ids.length, this.imageTokens, this.maxPositions);
    return ids;
  }
}
