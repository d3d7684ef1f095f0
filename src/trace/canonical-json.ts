/**
 * RFC 8785 JSON Canonicalization Scheme (JCS). Object members are sorted by their names' UTF-16 code units,
 * there is no white space, and strings and numbers are serialised exactly as ECMAScript's JSON.stringify does,
 * which is what RFC 8785 §3.2.2 prescribes. Numbers JSON cannot represent (NaN, Infinity), bigints and functions
 * are refused rather than mangled; object members whose value is undefined are omitted, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot represent the number ${value}`);
      return JSON.stringify(value);
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(",")}]`;
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
      // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot represent a value of type ${typeof value}`);
  }
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}
