/**
 * RFC 8785 JSON Canonicalization Scheme (JCS). Object members are sorted by their names' UTF-16 code units,
 * there is no white space, and strings and numbers are serialised exactly as ECMAScript's JSON.stringify does,
 * which is what RFC 8785 §3.2.2 prescribes. Numbers JSON cannot represent (NaN, Infinity), strings holding lone
 * surrogates, bigints and functions are refused rather than mangled; object members whose value is undefined
 * are omitted, as JSON.stringify does, but an undefined array item (or a hole) is refused, not turned into null.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case "string":
      return quote(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot represent the number ${value}`);
      return JSON.stringify(value);
    case "object":
      if (value === null) return "null";
      if (Array.isArray(value)) return canonicalArray(value);
      if (value instanceof Date) return quote(value.toISOString());
      return canonicalObject(value as Record<string, unknown>);
    default:
      throw new TypeError(`canonical JSON cannot represent a value of type ${typeof value}`);
  }
}

// Plain loops and string concatenation: this runs for every step a proof verifies, so no per-member arrays.
function canonicalArray(items: readonly unknown[]): string {
  let out = "[";
  // Indexing visits holes as undefined, which canonicalJson refuses; map would skip them and emit "[,1]".
  for (let index = 0; index < items.length; index++) {
    if (index > 0) out += ",";
    out += canonicalJson(items[index]);
  }
  return `${out}]`;
}

function canonicalObject(object: Record<string, unknown>): string {
  // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
  const keys = Object.keys(object).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const item = object[key];
    if (item === undefined) continue;
    out += `${first ? "" : ","}${quote(key)}:${canonicalJson(item)}`;
    first = false;
  }
  return `${out}}`;
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}

/** What JSON.stringify escapes in a well-formed string (RFC 8785 §3.2.2.2): the quote, the backslash, controls. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

// With the u flag a surrogate pair is one code point outside this range, so only unpaired halves match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * RFC 8785 §3.2.2.2 requires refusing lone surrogates: JSON.stringify would write them as "\udxxx" escapes,
 * which other JCS implementations reject and which UTF-8 (and PostgreSQL jsonb) cannot carry.
 */
function quote(text: string): string {
  // isWellFormed is native and runs for every string of every step verified; the regex only names the culprit.
  if (!text.isWellFormed()) {
    const codeUnit = (LONE_SURROGATE.exec(text)?.[0] ?? "\uFFFD").charCodeAt(0).toString(16).toUpperCase();
    throw new TypeError(`canonical JSON cannot represent a string holding the lone surrogate U+${codeUnit}`);
  }
  // Most strings need no escape at all; entering JSON.stringify for each of them is what made quoting slow.
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}
