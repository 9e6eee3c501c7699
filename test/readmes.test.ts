/**
 * The READMEs as a reader meets them: the front door stays short and keeps its two-command quick start, every link
 * between them leads somewhere, and the troubleshooting tables quote messages the code still prints.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { MessageIndex, quoteFragments } from "./support/code-messages";

const ROOT = path.join(__dirname, "..");
const README_FILES = [
  "README.md",
  "src/README.md",
  "src/walkthrough/README.md",
  "src/runtime/README.md",
  "src/image/README.md",
  "src/text/README.md",
  "src/decode/README.md",
  "src/notebook/README.md",
  "src/util/README.md",
  "notebooks/README.md",
  "kernel-setup/README.md",
  "test/README.md",
  "models/README.md",
];

function read(file: string): string {
  return fs.readFileSync(path.join(ROOT, file), "utf8");
}

/** Markdown without its fenced code blocks (a `[x](y)` in a code sample is not a link). */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```/gmu, "");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/gu, "-");
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  for (const m of prose(markdown).matchAll(/^#{1,6}\s+(.+)$/gmu)) {
    const base = githubAnchor(m[1]);
    const seen = counts.get(base) ?? 0;
    counts.set(base, seen + 1);
    anchors.add(seen === 0 ? base : `${base}-${seen}`);
  }
  return anchors;
}

/** Relative links `[text](target)` of a Markdown file, with the line they are on. */
function relativeLinks(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  prose(markdown)
    .split("\n")
    .forEach((text, i) => {
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/gu)) {
        if (!/^[a-z]+:/u.test(m[1])) links.push({ target: m[1], line: i + 1 });
      }
    });
  return links;
}

/** The backticked messages of the first column of a troubleshooting table's rows. */
function quotedMessages(section: string): string[] {
  const quotes: string[] = [];
  for (const line of section.split("\n")) {
    if (!line.startsWith("| `")) continue;
    const firstCell = line.slice(1).split(" | ")[0];
    for (const m of firstCell.matchAll(/`([^`]+)`/gu)) {
      // A lone identifier is an error code (`HTTP`, `INTEGRITY`) or a function name, not a message.
      if (!/^[A-Za-z_]+$/u.test(m[1])) quotes.push(m[1]);
    }
  }
  return quotes;
}

describe("READMEs", function () {
  describe("the front door (README.md)", function () {
    const readme = read("README.md");

    it("is at most 300 lines, so a newcomer reads it whole", function () {
      const lines = readme.split("\n").length;
      assert.ok(lines <= 300, `README.md has ${lines} lines; move detail into the README of the folder it documents`);
    });

    it("starts with the two-command quick start: npm ci && npm start, then npm test", function () {
      const quickStart = readme.slice(readme.indexOf("## Quick start"));
      const block = /```sh\n([\s\S]*?)```/u.exec(quickStart);
      assert.ok(block, "a sh code block in the Quick start section");
      assert.deepEqual(block[1].trim().split("\n"), ["npm ci && npm start", "npm test"]);
    });

    it("links the README of every top-level folder it describes", function () {
      for (const file of README_FILES.filter((f) => f !== "README.md" && f !== "models/README.md")) {
        assert.ok(readme.includes(`](${file})`), `README.md links ${file}`);
      }
    });
  });

  describe("links", function () {
    for (const file of README_FILES) {
      it(`${file}: every relative link names a file of the project, and a heading of it where it has #anchor`, function () {
        const broken: string[] = [];
        for (const { target, line } of relativeLinks(read(file))) {
          const [filePart, anchor] = target.split("#");
          const resolved = filePart === "" ? path.join(ROOT, file) : path.join(ROOT, path.dirname(file), filePart);
          if (!fs.existsSync(resolved)) {
            broken.push(`line ${line}: ${target} (no ${path.relative(ROOT, resolved)})`);
          } else if (anchor !== undefined && resolved.endsWith(".md") && !anchorsOf(fs.readFileSync(resolved, "utf8")).has(anchor)) {
            broken.push(`line ${line}: ${target} (no heading with anchor #${anchor} in ${path.relative(ROOT, resolved)})`);
          }
        }
        assert.deepEqual(broken, [], `broken links in ${file}`);
      });
    }

    it("anchors are computed as GitHub computes them", function () {
      assert.equal(githubAnchor("Loading images: `loadImageRgb(input, options?)`"), "loading-images-loadimagergbinput-options");
      assert.equal(githubAnchor("The benchmark (`npm run bench`)"), "the-benchmark-npm-run-bench");
      assert.ok(anchorsOf("# A\n## B b\n```\n# not a heading\n```\n## B b\n").has("b-b-1"));
    });
  });

  describe("troubleshooting tables (src/README.md) against the code's messages", function () {
    const readme = read("src/README.md");
    const section = readme.slice(readme.indexOf("## Troubleshooting"));
    const quotes = quotedMessages(section);
    const index = MessageIndex.fromFolders([path.join(ROOT, "src"), path.join(ROOT, "kernel-setup")]);

    it("quotes messages from every part of the library", function () {
      assert.ok(quotes.length >= 60, `${quotes.length} quoted messages`);
      for (const part of ["### Loading and running the model", "### Images", "### Tasks, prompts and the tokenizer", "### Downloads and the main command"]) {
        assert.ok(section.includes(part), `a "${part}" table`);
      }
    });

    it("every quoted message is spelled by the code's own strings", function () {
      const drifted = quotes
        .map((quote) => ({ quote, missing: index.unspelled(quote) }))
        .filter(({ missing }) => missing.length > 0)
        .map(({ quote, missing }) => `${quote}\n    not in the code: ${missing.map((m) => JSON.stringify(m)).join(", ")}`);
      assert.deepEqual(drifted, [], "README messages the code no longer prints (update the README row or the code)");
    });

    it("the check fails for a message the code does not print", function () {
      assert.deepEqual(index.unspelled("Cannot load image \"x.jpg\": no such file"), []);
      assert.notDeepEqual(index.unspelled("Cannot load image \"x.jpg\": no such picture"), []);
      assert.notDeepEqual(index.unspelled("The model folder was eaten by a grue"), []);
      assert.deepEqual(quoteFragments("Waited 60 min for another process (pid N on <host>) …"), ["min for another process (pid"]);
    });
  });
});
