import { textOf } from "./digest.js";

/**
 * Reads JSON as I-JSON (RFC 7493): UTF-8, JSON, no member name twice in one object, no lone surrogate in any string
 * or name (escaped or not), and, AOS's own limit, nested at most MAX_DEPTH deep. A bundle and every record in it are
 * read this way: JSON.parse alone keeps the last of two members of the same name, so a reader keeping the first
 * would see other data than the verifier checked, and a lone surrogate escape would hash as U+FFFD while reading as
 * something else. No AOS record or bundle nests more than four deep.
 */
export type StrictJson =
  | {
      ok: true;
      value: unknown;
      /**
       * The outermost object's members whose value holds a number written with a fraction or an exponent (`1.0`,
       * `1e0`): JSON.parse reads those as integers, but a record's integers are written as integers.
       */
      fractionalMembers: readonly string[];
    }
  | { ok: false; reason: string };

/** How deep arrays and objects may nest in a bundle or record (docs/proofs.md, "Verifying a bundle", step 1). */
export const MAX_DEPTH = 64;

export function parseStrictJson(input: string | Uint8Array): StrictJson {
  const text = textOf(input);
  if (text === undefined) return { ok: false, reason: "it is not UTF-8" };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `it is not JSON (${(error as Error).message})` };
  }
  // Most texts hold no member twice and no fraction: counting members is enough to know, naming them is not needed.
  const quick = countStructure(text);
  if (quick.depth > MAX_DEPTH) return { ok: false, reason: `it nests deeper than ${MAX_DEPTH} levels` };
  const plain = !quick.fraction && quick.members === memberCount(value);
  const structure = plain ? { fractional: [] } : scanStructure(text);
  if (structure.twice !== undefined) return { ok: false, reason: `the member ${JSON.stringify(structure.twice)} appears twice in one object` };
  const surrogate = mayHoldLoneSurrogate(text) ? loneSurrogateAt(value, "") : undefined;
  if (surrogate !== undefined) return { ok: false, reason: `${surrogate || "its value"} holds a lone surrogate` };
  return { ok: true, value, fractionalMembers: structure.fractional };
}

/** An escaped surrogate (`\uD800` to `\uDFFF`), paired or not, or an unescaped lone one in a string given as such. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

function mayHoldLoneSurrogate(text: string): boolean {
  return !text.isWellFormed() || SURROGATE_ESCAPE.test(text);
}

/** Where a string or member name holds an unpaired surrogate, as a path; undefined when none does. */
function loneSurrogateAt(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return value.isWellFormed() ? undefined : path;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = loneSurrogateAt(item, `${path}[${index}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const at = path === "" ? key : `${path}.${key}`;
      if (!key.isWellFormed()) return at;
      const found = loneSurrogateAt(item, at);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** How many members the objects of a parsed value have in all; fewer than the text writes means one was written twice. */
function memberCount(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += memberCount(item);
    return count;
  }
  for (const key in value) count += 1 + memberCount((value as Record<string, unknown>)[key]);
  return count;
}

/**
 * A JSON text's nesting depth, how many members its objects write (a member is the only place a ":" stands outside a
 * string), and whether a number in it has a fraction or exponent. One pass; strings skipped whole with indexOf.
 */
function countStructure(text: string): { depth: number; members: number; fraction: boolean } {
  let depth = 0;
  let open = 0;
  let members = 0;
  let fraction = false;
  for (let at = 0; at < text.length; at++) {
    const char = text.charCodeAt(at);
    if (char === QUOTE) at = closingQuote(text, at);
    else if (char === 0x3a) members += 1;
    else if (char === 0x7b || char === 0x5b) depth = Math.max(depth, ++open);
    else if (char === 0x7d || char === 0x5d) open -= 1;
    else if (char === 0x2e || ((char === 0x65 || char === 0x45) && isDigit(text.charCodeAt(at - 1)))) fraction = true;
  }
  return { depth, members, fraction };
}

const QUOTE = 0x22;

/**
 * The first member name that appears twice in one object of a JSON text JSON.parse has accepted (the scan stops
 * there), and the outermost object's members whose value holds a number with a fraction or exponent. Run only when
 * countStructure says there is something to name; each string is skipped whole with indexOf.
 */
function scanStructure(text: string): { twice?: string; fractional: string[] } {
  // One set of names per open object; null for an open array.
  const open: (Set<string> | null)[] = [];
  const fractional: string[] = [];
  let nameNext = false;
  let outerMember = "";
  for (let at = 0; at < text.length; at++) {
    const char = text.charCodeAt(at);
    if (char === QUOTE) {
      const end = closingQuote(text, at);
      if (nameNext) {
        const raw = text.slice(at + 1, end);
        const name = raw.includes("\\") ? (JSON.parse(text.slice(at, end + 1)) as string) : raw;
        const names = open[open.length - 1] as Set<string>;
        if (names.has(name)) return { twice: name, fractional };
        names.add(name);
        if (open.length === 1) outerMember = name;
        nameNext = false;
      }
      at = end;
    } else if (char === 0x2e || ((char === 0x65 || char === 0x45) && isDigit(text.charCodeAt(at - 1)))) {
      // Outside strings a "." or an "e"/"E" after a digit is only ever part of a number.
      if (open.length > 0 && open[0] !== null && fractional.at(-1) !== outerMember) fractional.push(outerMember);
    } else if (char === 0x7b || char === 0x5b) {
      open.push(char === 0x7b ? new Set() : null);
      nameNext = char === 0x7b;
    } else if (char === 0x2c) {
      nameNext = open.length > 0 && open[open.length - 1] !== null;
    } else if (char === 0x7d || char === 0x5d) {
      open.pop();
      nameNext = false;
    }
  }
  return { fractional };
}

function isDigit(char: number): boolean {
  return char >= 0x30 && char <= 0x39;
}

/** A whole JSON string, escapes and all, matched where it starts: "normal* (escape normal*)*", one native call. */
const STRING = /"[^"\\]*(?:\\.[^"\\]*)*"/y;

/**
 * The index of the quote that closes the string opening at `start` (the text is valid JSON, so there is one): the
 * next quote when no backslash stands before it (a record's short strings), else the whole string matched at once (a
 * bundle's strings hold records whose quotes are all escaped).
 */
function closingQuote(text: string, start: number): number {
  const next = text.indexOf('"', start + 1);
  if (text.charCodeAt(next - 1) !== 0x5c) return next;
  STRING.lastIndex = start;
  STRING.test(text);
  return STRING.lastIndex - 1;
}
