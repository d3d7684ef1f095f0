import { z } from "zod";
import type { Skill, SkillOutcome } from "./contract.js";
import { failure, ok } from "./outcome.js";

/** One step of a path: an object key, or an array index (negative counts from the end). */
type Segment = { key: string } | { index: number };

/** Parses `data.items[0].name`, `items[-1]`, `$.a.b`; "" and "$" mean the whole payload. Undefined if malformed. */
export function parsePath(path: string): Segment[] | undefined {
  const body = withoutRoot(path);
  const segment = /\.?([^.[\]]+)|\[(-?\d+)\]/y;
  const segments: Segment[] = [];
  while (segment.lastIndex < body.length) {
    const start = segment.lastIndex;
    const match = segment.exec(body);
    if (match === null) return undefined;
    if (match[1] === undefined) {
      segments.push({ index: Number(match[2]) });
    } else {
      // A key follows a dot, except the first one: "a[0]b" and ".a" are typos, not paths.
      if (match[0].startsWith(".") !== start > 0) return undefined;
      segments.push({ key: match[1] });
    }
  }
  return segments;
}

function withoutRoot(path: string): string {
  if (path === "$") return "";
  if (path.startsWith("$.")) return path.slice(2);
  if (path.startsWith("$[")) return path.slice(1);
  return path;
}

/** The value at `segments`, or not found when any step does not exist (a present null is a value). */
function valueAt(payload: unknown, segments: readonly Segment[]): { found: true; value: unknown } | { found: false } {
  let current = payload;
  for (const segment of segments) {
    if ("index" in segment) {
      if (!Array.isArray(current)) return { found: false };
      const index = segment.index < 0 ? current.length + segment.index : segment.index;
      if (index < 0 || index >= current.length) return { found: false };
      current = current[index];
    } else {
      // Own properties only: a path must never reach "constructor" or "__proto__" through the prototype.
      if (typeof current !== "object" || current === null || Array.isArray(current)) return { found: false };
      if (!Object.hasOwn(current, segment.key)) return { found: false };
      current = (current as Record<string, unknown>)[segment.key];
    }
  }
  return { found: true, value: current };
}

const pathSchema = z.string().refine((path) => parsePath(path) !== undefined, {
  message: 'not a path: use dots and [n] or [-n] indexing, e.g. "data.items[0].name"; "" or "$" for the whole payload',
});

const inputSchema = z
  .object({
    payload: z.json(),
    mapping: z.record(z.string(), pathSchema),
    defaults: z.record(z.string(), z.json()).optional(),
  })
  .strict();

export type JsonTransformInput = z.output<typeof inputSchema>;

/**
 * Upstream returned status "partial" with null values when a path was missing and had no default, and counted
 * that as success, so a later step silently received nulls. Here a missing path without a default fails the
 * step, naming every such key and path; a default (null included) is the way to say a value is optional.
 */
function transform(input: JsonTransformInput): SkillOutcome {
  const entries: [string, unknown][] = [];
  const missing: { key: string; path: string }[] = [];
  for (const [key, path] of Object.entries(input.mapping)) {
    const lookup = valueAt(input.payload, parsePath(path) ?? []);
    const defaults = input.defaults ?? {};
    if (lookup.found) entries.push([key, lookup.value]);
    else if (Object.hasOwn(defaults, key)) entries.push([key, defaults[key]]);
    else missing.push({ key, path });
  }
  if (missing.length > 0) {
    const named = missing.map(({ key, path }) => `${key} ("${path}")`).join(", ");
    const message = `json_transform: no value and no default for ${named}`;
    return failure("TRANSFORM_PATH_MISSING", message, { details: { missing } });
  }
  return ok(Object.fromEntries(entries));
}

export const jsonTransformSkill: Skill<JsonTransformInput> = {
  name: "json_transform",
  version: "1.0.0",
  description:
    "Builds an object from a JSON payload: each output key takes the value at a path such as " +
    '"data.items[0].name" or "items[-1]", or its default when the path is missing.',
  input: inputSchema,
  output: { "<out key>": "for each mapping key, the value found at its path, or its default" },
  determinism: "deterministic",
  sideEffects: "none",
  estimateCostCents: () => 0,
  limits: {},
  failureCodes: ["TRANSFORM_PATH_MISSING"],
  execute: (input) => Promise.resolve(transform(input)),
};
