/**
 * Does the code still say what a README quotes? The messages a user sees (errors, notices) are built from string and
 * template literals, often in pieces: `Cannot load image "${file}": ${reason}.`, where `reason` is another literal
 * elsewhere. This module reads every string and template literal of the given TypeScript files (with `+`
 * concatenations folded) as literal runs between holes, one hole per `${...}` or non-literal operand.
 *
 * A quote may leave parts out with `…`, `...` or a `<placeholder>` (`<repo>`, `<file>`), and it shows run-time values
 * where the code has a hole: numbers, quoted values ("x.jpg"), paths and ids, single capital letters (N, X). All of
 * those split the quote into fragments; each fragment with at least three letters must be spelled by one literal run
 * of the code, or, where the code builds it from several literals (`"${a}: ${reason}"`), each of its clauses (split at
 * `:`, `;`, `,`, parentheses) must be. So changing a word of a quoted message in the code makes the quote fail, while
 * the quote may show values as a user sees them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

/** A hole: the value of a `${…}` or of a non-literal operand of `+`; in a quote, `…` or a `<placeholder>`. */
export const HOLE = -1;
/** Text as code points, with HOLE where anything may stand. */
export type Tokens = readonly number[];

/** The literal with holes that a string-valued expression gives, or undefined when it is not built from literals. */
function fold(node: ts.Node): number[] | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return codePoints(node.text);
  if (ts.isTemplateExpression(node)) {
    const tokens = codePoints(node.head.text);
    for (const span of node.templateSpans) tokens.push(HOLE, ...codePoints(span.literal.text));
    return tokens;
  }
  if (ts.isParenthesizedExpression(node)) return fold(node.expression);
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const left = fold(node.left);
    const right = fold(node.right);
    if (left === undefined && right === undefined) return undefined;
    return [...(left ?? [HOLE]), ...(right ?? [HOLE])];
  }
  return undefined;
}

function codePoints(text: string): number[] {
  return Array.from(text, (c) => c.codePointAt(0) as number);
}

/** Every string pattern of a TypeScript source: its literals, templates and `+` concatenations, each as written. */
export function stringPatterns(fileName: string, text: string): Tokens[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const patterns: Tokens[] = [];
  const visit = (node: ts.Node): void => {
    const tokens = fold(node);
    // A pattern of holes alone says nothing about the wording. Adjacent holes stay apart (`${name}${note}`): each
    // holds its own value.
    if (tokens !== undefined && tokens.some((t) => t !== HOLE)) patterns.push(tokens);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return patterns;
}

/** The .ts files under each folder, recursively. */
export function typeScriptFiles(folders: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && entry.name.endsWith(".ts")) files.push(full);
    }
  };
  folders.forEach(walk);
  return files.sort();
}

const NUL = "\u0000";

/** Where a quote shows a value or leaves text out: the code has a hole (or more text) there. */
const WILDCARDS = [
  /…|\.\.\./gu, // text left out
  /<[a-z][a-z ]*[a-z]>/gu, // <placeholder>
  /"[^"]*"/gu, // a quoted value: "x.jpg", "<od>"
  /\b[A-Z]\b/gu, // N, X, Y
  /[^\s`]*[0-9/][^\s`]*/gu, // numbers, sizes, paths, ids: 51289, 1.1 GB's 1.1, /abs/x.jpg, onnx-community/...
];
const LETTERS = /\p{L}/gu;

/**
 * Punctuation and spaces beside a hole: the code writes `"${file}"` or `(pid ${pid})`, a quote shows `"x.jpg"` or
 * `(pid N)`, so a literal run's edge at a hole is compared without them.
 */
const EDGE = `\\s"'(),.:;\\[\\]{}<>\`=`;
const AT_HOLE = new RegExp(`[${EDGE}]*\\u0000[${EDGE}]*`, "gu");
const LEADING_EDGE = new RegExp(`^[${EDGE}]+`, "u");
const TRAILING_EDGE = new RegExp(`[${EDGE}]+$`, "u");

/** The literal runs of every .ts file under `folders`, and which quotes they spell. */
export class MessageIndex {
  /** The runs joined by NUL, with NUL at both ends: NUL + text is "a run starts with text". */
  private readonly corpus: string;
  private readonly found = new Map<string, boolean>();

  constructor(patterns: readonly Tokens[]) {
    const runs = patterns.flatMap((tokens) => tokensText(tokens).split(NUL));
    this.corpus = (NUL + runs.map(oneLine).join(NUL) + NUL).replace(AT_HOLE, NUL);
  }

  static fromFolders(folders: readonly string[]): MessageIndex {
    return new MessageIndex(typeScriptFiles(folders).flatMap((f) => stringPatterns(f, fs.readFileSync(f, "utf8"))));
  }

  /** The fragments of `quote` that the code's literals do not spell (empty when the code says it). */
  unspelled(quote: string): string[] {
    return quoteFragments(quote).filter((fragment) => !this.spells(fragment));
  }

  /**
   * Whether the code spells a fragment: its words are literal segments and single words that a hole holds (a value:
   * `main`, `<OD>`, `EACCES`). A segment next to a hole must end or start a literal run there, so a changed word is
   * not excused as a value unless the code has a hole at that very place. A hole may also hold a phrase that another
   * literal spells (`${reason}`): then one segment ends a run and the next starts one. At least one segment must be
   * literal.
   */
  private spells(fragment: string): boolean {
    if (this.has(fragment)) return true;
    const words = fragment.split(" ");
    const n = words.length;
    const memo = new Map<string, boolean>();
    // Can words[i, n) be spelled, right after a hole (afterHole) or at the fragment's start, right after a value
    // (afterValue), with a literal segment among them or before them (literalSeen)? A hole holds one word: two values
    // in a row would let any two words pass.
    const rest = (i: number, afterHole: boolean, afterValue: boolean, literalSeen: boolean): boolean => {
      if (i === n) return literalSeen;
      const key = `${i},${afterHole},${afterValue},${literalSeen}`;
      const known = memo.get(key);
      if (known !== undefined) return known;
      // words[i] is a value a hole holds; right after another value only when the code's punctuation between two
      // holes shows (`${host} (${code})`: "huggingface.co (ENOTFOUND)")
      // A plain lower-case word is text, never a value: a quote writes such values as <placeholders>.
      const mayBeValue = !/^\p{Ll}+$/u.test(words[i]) && (!afterValue || LEADING_EDGE.test(words[i]));
      let ok = mayBeValue && rest(i + 1, true, true, literalSeen);
      for (let j = i + 1; j <= n && !ok; j++) {
        const segment = words.slice(i, j).join(" ");
        const core = segment.replace(LEADING_EDGE, "").replace(TRAILING_EDGE, "");
        if (core === "") continue;
        if (!this.has(core)) break; // a longer segment holds this one, so it isn't spelled either
        // One word that is a whole run between two holes could come from any message: it must be a value.
        if (afterHole && j < n && j === i + 1) continue;
        ok = j === n ? this.has(edge(segment, afterHole, false)) : this.has(edge(segment, afterHole, true)) && rest(j, true, false, true);
      }
      memo.set(key, ok);
      return ok;
    };
    return rest(0, false, false, false);
  }

  private has(text: string): boolean {
    let known = this.found.get(text);
    if (known === undefined) this.found.set(text, (known = text !== NUL && this.corpus.includes(text)));
    return known;
  }
}

/** `segment` as it must appear in the corpus: starting a run (NUL before) and/or ending one (NUL after). */
function edge(segment: string, startsRun: boolean, endsRun: boolean): string {
  let text = segment;
  if (startsRun) text = NUL + text.replace(LEADING_EDGE, "");
  if (endsRun) text = text.replace(TRAILING_EDGE, "") + NUL;
  return text;
}

/** The pieces of a quote between its wildcards, trimmed, that have words enough to say something. */
export function quoteFragments(quote: string): string[] {
  let text = oneLine(quote);
  for (const wildcard of WILDCARDS) text = text.replace(wildcard, NUL);
  return text.split(NUL).map(trimPunctuation).filter(hasWords);
}

function trimPunctuation(text: string): string {
  return text.replace(LEADING_EDGE, "").replace(TRAILING_EDGE, "");
}

/** Two words or more with three letters: a lone word between values (`(EACCES)`) says nothing of the wording. */
function hasWords(text: string): boolean {
  return text.includes(" ") && (text.match(LETTERS) ?? []).length >= 3;
}

/** Code breaks long messages over lines; a README quote is one line. */
function oneLine(text: string): string {
  return text.replace(/\s+/gu, " ");
}

/** Tokens as a string, holes as NUL. */
function tokensText(tokens: Tokens): string {
  return tokens.map((t) => (t === HOLE ? NUL : String.fromCodePoint(t))).join("");
}
