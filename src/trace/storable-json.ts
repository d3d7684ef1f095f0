/**
 * Makes a value safe to store in jsonb and to hash, so what is hashed at write time is exactly what reads back:
 * PostgreSQL's jsonb cannot hold U+0000, and JSON has no undefined, NaN, Infinity or bigint.
 * Strings lose U+0000 and unpaired surrogates (RFC 8785 refuses them), each replaced by U+FFFD; non-finite numbers become null, -0 becomes 0; bigints become decimal strings;
 * Dates become ISO strings; undefined object members are dropped and undefined array items become null.
 */
// U+0000, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
const NOT_STORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function toStorableJson(value: unknown): unknown {
  switch (typeof value) {
    case "string":
      return value.replace(NOT_STORABLE, "\uFFFD");
    case "number":
      // JSON has no -0 (it is written 0), so it would read back as 0: stored as 0 from the start.
      return Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : null;
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "object": {
      if (value === null) return null;
      if (value instanceof Date) return value.toISOString();
      if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : toStorableJson(item)));
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
        out[toStorableJson(key) as string] = toStorableJson(item);
      }
      return out;
    }
    default:
      return null;
  }
}
