/**
 * How error messages name what they received: `Expected X for Y but received ${describeValue(value)}`.
 *
 * One home for this so that every message in the library says the same thing about the same value: short (a long
 * string or a big array is summarised, never printed whole), exact where that helps the fix (`"0"` quoted as a
 * string, `-1` as a number), and never the confusing `[object Object]`.
 */

/** Strings longer than this are cut, with an ellipsis, inside the quotes. */
const MAX_STRING_CHARS = 60;
/** An object's keys listed before "... (N in all)". */
const MAX_KEYS = 8;

/**
 * A received value in words: strings quoted (`"abc"`, `an empty string ""`), numbers and booleans as written, arrays
 * and typed arrays with their length, plain objects with their keys, other objects by their class.
 */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  switch (typeof value) {
    case "string":
      return describeString(value);
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "function":
      return value.name ? `the function ${value.name}` : "a function";
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const className = classNameOf(value as object);
  if (ArrayBuffer.isView(value)) {
    const length = (value as unknown as { length?: number }).length ?? value.byteLength;
    return `${withArticle(className ?? "typed array")} of ${length} ${value instanceof Uint8Array ? "bytes" : "elements"}`;
  }
  if (className === undefined) {
    const keys = Object.keys(value as object);
    return keys.length === 0 ? "an empty object {}" : `an object with keys [${describeList(keys, MAX_KEYS)}]`;
  }
  return withArticle(className);
}

/**
 * Names in a message: all of them up to `max`, else the first `max - 2` and how many there are in all (the names
 * of a decoder's 24 cache inputs would drown the message).
 */
export function describeList(names: readonly string[], max = 8): string {
  if (names.length <= max) return names.join(", ");
  return `${names.slice(0, max - 2).join(", ")}, ... (${names.length} in all)`;
}

function describeString(text: string): string {
  if (text === "") return 'an empty string ""';
  const chars = Array.from(text);
  const shown = chars.length > MAX_STRING_CHARS ? JSON.stringify(chars.slice(0, MAX_STRING_CHARS - 1).join("") + "…") : JSON.stringify(text);
  return text.trim() === "" ? `a blank string ${shown}` : shown;
}

/** The class of an object that is not a plain one (`Map`, `Promise`, `Buffer`), or undefined for a plain object. */
function classNameOf(value: object): string | undefined {
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  if (proto === null || proto === Object.prototype) return undefined;
  return proto.constructor?.name || "object";
}

/** "an AbortController", "a Map", "a Uint8Array" (a U that sounds like "you" takes "a", as in the typed arrays). */
function withArticle(noun: string): string {
  return `${/^[aeio]/i.test(noun) ? "an" : "a"} ${noun}`;
}
