import { strict as assert } from "node:assert";
import { PromptEncoder } from "../../src/text/prompt-ids";
import { buildPrompt } from "../../src/text/prompts";
import type { Florence2Tokenizer } from "../../src/text/tokenizer";

/** One id per character between <s> (0) and </s> (2): lengths are easy to reason about. */
const charTokenizer = { encode: (text: string) => [0, ...Array.from(text, (c) => c.charCodeAt(0)), 2] } as unknown as Florence2Tokenizer;

describe("text/prompt-ids", function () {
  it("encodes a task's prompt, and waits for the image size only for pixel boxes", function () {
    const prompts = new PromptEncoder(charTokenizer, 577, 1024);
    assert.deepEqual(prompts.task("<CAPTION>", undefined), charTokenizer.encode(buildPrompt("<CAPTION>", undefined)));
    assert.equal(PromptEncoder.needsImageSize({ x1: 1, y1: 2, x2: 3, y2: 4 }), true);
    assert.equal(PromptEncoder.needsImageSize("a phrase"), false);
    const box = prompts.task("<REGION_TO_CATEGORY>", { x1: 0, y1: 0, x2: 50, y2: 50 }, { width: 100, height: 100 });
    assert.deepEqual(box, charTokenizer.encode(buildPrompt("<REGION_TO_CATEGORY>", { x1: 0, y1: 0, x2: 50, y2: 50 }, { width: 100, height: 100 })));
  });

  it("refuses a prompt that does not fit beside the image tokens, naming the limit and the fix", function () {
    const prompts = new PromptEncoder(charTokenizer, 577, 600);
    assert.equal(prompts.text("x".repeat(21)).length, 23, "577 + 23 = 600 fits exactly");
    assert.throws(
      () => prompts.text("x".repeat(22)),
      /^Error: The prompt is 24 tokens long; with the 577 image tokens that is 601 encoder positions, more than the model's 600 \(max_position_embeddings in config\.json\)\. Shorten the text input to at most 23 tokens, prompt included\.$/,
    );
  });
});
