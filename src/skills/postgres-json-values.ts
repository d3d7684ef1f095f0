import pg from "pg";

// How postgres_query turns column values into JSON that survives a round trip through a step's stored result.
// pg's defaults do not: int8 and numeric are already strings (kept), but dates become JS Dates in the worker's
// local zone (a `date` lands on the previous day east of UTC), timestamps lose microseconds, intervals become
// objects, bytea becomes a Buffer, and float NaN/Infinity serialize as null. The query's transaction sets
// TimeZone UTC, DateStyle ISO, IntervalStyle iso_8601 and bytea_output hex (see postgres-query.ts), so the
// text PostgreSQL sends is already close to ISO 8601 and is converted here, without going through Date.

type Convert = (text: string) => unknown;

const asText: Convert = (text) => text;

const TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)(\+00)?$/;

/** `2024-01-02 03:04:05.123456+00` → `2024-01-02T03:04:05.123456Z`; infinity and BC dates stay as sent. */
const isoTimestamp: Convert = (text) => {
  const match = TIMESTAMP.exec(text);
  if (match === null) return text;
  return `${match[1]}T${match[2]}${match[3] === undefined ? "" : "Z"}`;
};

const finiteOrText: Convert = (text) => {
  const value = Number(text);
  return Number.isFinite(value) ? value : text;
};

/** pg's own parser for an OID (its types list only the scalar built-ins, not array OIDs). */
const defaultParser = pg.types.getTypeParser as unknown as (oid: number, format: "text") => Convert;

const defaultBytea = defaultParser(17, "text");
const base64: Convert = (text) => {
  const bytes = text.startsWith("\\x") ? Buffer.from(text.slice(2), "hex") : (defaultBytea(text) as Buffer);
  return bytes.toString("base64");
};

/** Scalar types by OID (pg_type.oid); arrays of them below map each element the same way. */
const SCALARS = new Map<number, Convert>([
  [16, (text) => text === "t"], // bool
  [17, base64], // bytea
  [20, asText], // int8: beyond 2^53, so a string
  [21, Number], // int2
  [23, Number], // int4
  [26, Number], // oid
  [700, finiteOrText], // float4
  [701, finiteOrText], // float8
  [1700, asText], // numeric: exact, so a string
  [114, (text) => JSON.parse(text) as unknown], // json
  [3802, (text) => JSON.parse(text) as unknown], // jsonb
  [1082, asText], // date: YYYY-MM-DD
  [1083, asText], // time
  [1266, asText], // timetz
  [1114, isoTimestamp], // timestamp
  [1184, isoTimestamp], // timestamptz
  [1186, asText], // interval, ISO 8601 (P1DT2H)
]);

const ARRAYS = new Map<number, number>([
  [1000, 16], [1001, 17], [1016, 20], [1005, 21], [1007, 23], [1028, 26], [1021, 700], [1022, 701],
  [1231, 1700], [199, 114], [3807, 3802], [1182, 1082], [1183, 1083], [1270, 1266], [1115, 1114],
  [1185, 1184], [1187, 1186],
]);

/** text[]'s parser reads any array literal into (nested) strings and nulls. */
const parseArrayLiteral = defaultParser(1009, "text");

function mapElements(value: unknown, convert: Convert): unknown {
  if (Array.isArray(value)) return value.map((element) => mapElements(element, convert));
  return typeof value === "string" ? convert(value) : value;
}

function parserFor(oid: number): Convert {
  const scalar = SCALARS.get(oid);
  if (scalar !== undefined) return scalar;
  const element = ARRAYS.get(oid);
  const elementConvert = element === undefined ? undefined : SCALARS.get(element);
  if (elementConvert !== undefined) return (text) => mapElements(parseArrayLiteral(text), elementConvert);
  // Text, uuid, inet, other arrays (as strings), point and circle (as {x, y[, radius]}): JSON-safe already.
  return defaultParser(oid, "text");
}

/** The `types` of postgres_query's client: every value a string, number, boolean, null, array or plain object. */
export const JSON_SAFE_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number) => parserFor(oid)) as pg.CustomTypesConfig["getTypeParser"],
};
