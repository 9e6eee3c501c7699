import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildPrompt } from "../../src/text/prompts";
import { TASKS } from "../../src/text/tasks";
import { Florence2Tokenizer } from "../../src/text/tokenizer";

const SHARED = path.resolve(__dirname, "..", "..", "..", "shared");
const TOKENIZER_FOLDER = path.join(SHARED, "tokenizer");
const MODEL_CONFIG = path.join(SHARED, "florence2", "model-files", "config.json");
const POSTPROCESS_EXAMPLES = path.join(SHARED, "florence2", "examples", "postprocess_examples.jsonl");

// Ids of Florence-2's special and added tokens, as its tokenizer.json (microsoft/Florence-2-base-ft) has them.
const BOS = 0;
const PAD = 1;
const EOS = 2;
const locId = (k: number): number => 50269 + k;
const SEP = 51279;
const POLY = 51286;
const POLY_END = 51287;

/**
 * A straightforward byte-level BPE written from the GPT-2 recipe, to compute expected ids independently of
 * @huggingface/tokenizers: split on added tokens, pre-tokenize with GPT-2's regex, map bytes to GPT-2's
 * printable characters, merge by rank, look up the vocabulary, wrap in <s> ... </s>.
 */
class ReferenceBpe {
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly added: { content: string; id: number }[];
  private readonly byteChar: string[];

  constructor(tokenizerJson: { model: { vocab: Record<string, number>; merges: (string | string[])[] }; added_tokens: { content: string; id: number }[] }) {
    this.vocab = new Map(Object.entries(tokenizerJson.model.vocab));
    this.ranks = new Map(tokenizerJson.model.merges.map((m, i) => [Array.isArray(m) ? m.join(" ") : m, i]));
    this.added = [...tokenizerJson.added_tokens].sort((a, b) => b.content.length - a.content.length);
    this.byteChar = ReferenceBpe.gpt2ByteChars();
  }

  /** GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100 upwards. */
  private static gpt2ByteChars(): string[] {
    const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    let next = 256;
    return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
  }

  encode(text: string): number[] {
    const ids = [BOS];
    for (const piece of this.splitOnAddedTokens(text)) {
      if (typeof piece === "number") ids.push(piece);
      else for (const word of piece.match(/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu) ?? []) ids.push(...this.bpe(word));
    }
    ids.push(EOS);
    return ids;
  }

  private splitOnAddedTokens(text: string): (string | number)[] {
    const pieces: (string | number)[] = [];
    let plain = "";
    for (let i = 0; i < text.length; ) {
      const token = this.added.find((t) => text.startsWith(t.content, i));
      if (token) {
        if (plain) pieces.push(plain);
        plain = "";
        pieces.push(token.id);
        i += token.content.length;
      } else {
        plain += text[i++];
      }
    }
    if (plain) pieces.push(plain);
    return pieces;
  }

  private bpe(word: string): number[] {
    let parts = [...Buffer.from(word, "utf8")].map((b) => this.byteChar[b]);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rank = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
      }
      if (best < 0) break;
      const pair = parts[best] + parts[best + 1];
      const merged: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] + parts[i + 1] === pair && this.ranks.get(`${parts[i]} ${parts[i + 1]}`) === bestRank) {
          merged.push(pair);
          i++;
        } else {
          merged.push(parts[i]);
        }
      }
      parts = merged;
    }
    return parts.map((p) => {
      const id = this.vocab.get(p);
      assert.ok(id !== undefined, `no vocabulary entry for ${p}`);
      return id;
    });
  }
}

describe("Florence2Tokenizer with the real Florence-2 tokenizer", function () {
  let tokenizer: Florence2Tokenizer;
  let reference: ReferenceBpe;

  before(function () {
    this.timeout(30_000);
    if (!existsSync(path.join(TOKENIZER_FOLDER, "tokenizer.json"))) {
      console.log(`    skipped: ${TOKENIZER_FOLDER} not found (the real tokenizer beside the repo)`);
      this.skip();
    }
    tokenizer = Florence2Tokenizer.fromFolder(TOKENIZER_FOLDER);
    reference = new ReferenceBpe(JSON.parse(readFileSync(path.join(TOKENIZER_FOLDER, "tokenizer.json"), "utf8")));
  });

  it("encodes the golden prompts of the reference", function () {
    assert.deepStrictEqual(tokenizer.encode("Locate cat in the image."), [0, 574, 22486, 4758, 11, 5, 2274, 4, 2]);
    assert.deepStrictEqual(tokenizer.encode("describe"), [0, 45091, 21700, 2]);
  });

  it("agrees with the independent BPE on the golden prompts", function () {
    assert.deepStrictEqual(reference.encode("Locate cat in the image."), [0, 574, 22486, 4758, 11, 5, 2274, 4, 2]);
    assert.deepStrictEqual(reference.encode("describe"), [0, 45091, 21700, 2]);
  });

  it("encodes every task prompt as the independent BPE does", function () {
    const size = { width: 640, height: 480 };
    for (const task of TASKS) {
      const inputs = task.input === "none" ? [undefined] : task.input === "text"
        ? ["a green car", "A green car parked in front of a yellow building.", "  two  spaces, Ünïcödé and 日本語 ", "it's 3.5 m\nwide"]
        : ["<loc_52><loc_332><loc_932><loc_774>", { x1: 0, y1: 0, x2: 640, y2: 480 }];
      for (const input of inputs) {
        const prompt = buildPrompt(task.token, input, size);
        const ids = tokenizer.encode(prompt);
        assert.deepStrictEqual(ids, reference.encode(prompt), prompt);
        assert.equal(ids[0], BOS);
        assert.equal(ids[ids.length - 1], EOS);
      }
    }
  });

  it("encodes a region's loc tokens as single ids", function () {
    const ids = tokenizer.encode(buildPrompt("<REGION_TO_CATEGORY>", "<loc_52><loc_332><loc_932><loc_774>", { width: 640, height: 480 }));
    const start = ids.indexOf(locId(52));
    assert.equal(locId(52), 50321);
    assert.deepStrictEqual(ids.slice(start, start + 4), [locId(52), locId(332), locId(932), locId(774)]);
  });

  it("maps every loc token to its id", function () {
    for (let k = 0; k < 1000; k++) {
      assert.equal(tokenizer.tokenToId(`<loc_${k}>`), locId(k));
      assert.equal(tokenizer.idToToken(locId(k)), `<loc_${k}>`);
    }
    assert.equal(tokenizer.tokenToId("<loc_1000>"), undefined);
  });

  it("has the special ids and the model's vocab_size", function () {
    assert.deepStrictEqual([tokenizer.bosTokenId, tokenizer.padTokenId, tokenizer.eosTokenId], [BOS, PAD, EOS]);
    assert.equal(tokenizer.vocabSize, 51289);
    if (existsSync(MODEL_CONFIG)) {
      const config = JSON.parse(readFileSync(MODEL_CONFIG, "utf8"));
      assert.equal(tokenizer.vocabSize, config.vocab_size ?? config.text_config.vocab_size);
    }
  });

  it("decodes loc, poly and sep sequences keeping every special token", function () {
    const car = reference.encode("car").slice(1, -1);
    assert.equal(tokenizer.decode([EOS, BOS, ...car, locId(53), locId(333), locId(933), locId(774), EOS]), "</s><s>car<loc_53><loc_333><loc_933><loc_774></s>");
    assert.equal(
      tokenizer.decode([EOS, BOS, POLY, locId(1), locId(2), SEP, locId(3), locId(4), POLY_END, PAD, EOS]),
      "</s><s><poly><loc_1><loc_2><sep><loc_3><loc_4></poly><pad></s>",
    );
    const words = reference.encode("A green car").slice(1, -1);
    assert.equal(tokenizer.decode([EOS, BOS, ...words, locId(53), locId(330), locId(910), locId(779), EOS]), "</s><s>A green car<loc_53><loc_330><loc_910><loc_779></s>");
  });

  it("applies the clean-up of tokenization spaces, as tokenizer_config.json asks", function () {
    const ids = reference.encode("Hello , world ! It 's a test .");
    assert.equal(tokenizer.decode(ids), "<s>Hello, world! It's a test.</s>");
  });

  it("round-trips the reference's generated texts", function () {
    if (!existsSync(POSTPROCESS_EXAMPLES)) {
      console.log(`    skipped: ${POSTPROCESS_EXAMPLES} not found`);
      this.skip();
    }
    for (const line of readFileSync(POSTPROCESS_EXAMPLES, "utf8").trim().split("\n")) {
      const { text } = JSON.parse(line) as { text: string };
      assert.equal(tokenizer.decode(tokenizer.encode(text)), `<s>${text}</s>`);
    }
  });

  it("skips ids outside the vocabulary, as the reference's tokenizer does", function () {
    assert.equal(tokenizer.decode([BOS, 51289, 999_999, EOS]), "<s></s>");
    assert.equal(tokenizer.decode([]), "");
    assert.equal(tokenizer.decode([BigInt(BOS), BigInt(locId(7)), BigInt(EOS)]), "<s><loc_7></s>");
    assert.equal(tokenizer.decode(new Int32Array([EOS, BOS, EOS])), "</s><s></s>");
  });

  it("rejects negative and non-integer ids", function () {
    assert.throws(() => tokenizer.decode([0, -1]), /non-negative integers but ids\[1\] is -1/);
    assert.throws(() => tokenizer.decode([1.5]), /ids\[0\] is 1.5/);
    assert.throws(() => tokenizer.encode(undefined as unknown as string), /Expected a string to encode but received undefined/);
  });
});

describe("Florence2Tokenizer.fromFolder errors", function () {
  let folder: string;
  beforeEach(function () {
    folder = mkdtempSync(path.join(os.tmpdir(), "florence2-tokenizer-"));
  });
  afterEach(function () {
    rmSync(folder, { recursive: true, force: true });
  });

  it("names a missing tokenizer.json", function () {
    assert.throws(() => Florence2Tokenizer.fromFolder(folder), (error: Error) => {
      assert.match(error.message, /^Cannot read .*tokenizer\.json: there is no such file\. A Florence-2 model folder .* has .*tokenizer\.json, tokenizer_config\.json at its top level/);
      assert.ok(error.message.includes(folder));
      return true;
    });
  });

  it("names a missing tokenizer_config.json", function () {
    writeFileSync(path.join(folder, "tokenizer.json"), "{}");
    assert.throws(() => Florence2Tokenizer.fromFolder(folder), /Cannot read .*tokenizer_config\.json: there is no such file/);
  });

  it("names a truncated tokenizer.json", function () {
    writeFileSync(path.join(folder, "tokenizer.json"), '{"version": "1.0", "added_tok');
    writeFileSync(path.join(folder, "tokenizer_config.json"), "{}");
    assert.throws(() => Florence2Tokenizer.fromFolder(folder), /tokenizer\.json is not valid JSON .*corrupt or truncated\. .*download the model again/);
  });

  it("rejects a JSON file that is not a tokenizer", function () {
    writeFileSync(path.join(folder, "tokenizer.json"), '{"hello": 1}');
    writeFileSync(path.join(folder, "tokenizer_config.json"), "{}");
    assert.throws(() => Florence2Tokenizer.fromFolder(folder), /is not a Hugging Face tokenizer\.json/);
    writeFileSync(path.join(folder, "tokenizer.json"), "[1, 2]");
    assert.throws(() => Florence2Tokenizer.fromFolder(folder), /Expected a JSON object in .*tokenizer\.json but found an array of length 2/);
  });
});
