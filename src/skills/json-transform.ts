import { z } from "zod";
import type { Skill, SkillOutcome } from "./contract.js";
import { parsePath, valueAt } from "./json-path.js";
import { compileQuery, evaluateBounded, MAX_QUERY_LENGTH, QUERY_DEPTH_LIMIT, QUERY_TIME_LIMIT_MS } from "./jsonata-query.js";
import { failure, ok } from "./outcome.js";
import { toStorableJson } from "../trace/storable-json.js";

const pathSchema = z.string().refine((path) => parsePath(path) !== undefined, {
  message: 'not a path: use dots and [n] or [-n] indexing, e.g. "data.items[0].name"; "" or "$" for the whole payload',
});

const querySchema = z
  .string()
  .min(1)
  .max(MAX_QUERY_LENGTH)
  .superRefine((query, ctx) => {
    const compiled = compileQuery(query);
    if (!compiled.ok) ctx.addIssue({ code: "custom", message: compiled.message });
  });

const inputSchema = z
  .object({
    payload: z.json(),
    mapping: z.record(z.string(), pathSchema).optional(),
    defaults: z.record(z.string(), z.json()).optional(),
    query: querySchema.optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if ((input.mapping === undefined) === (input.query === undefined)) {
      ctx.addIssue({ code: "custom", message: 'give exactly one of "mapping" (paths) or "query" (a JSONata expression)' });
    }
    if (input.query !== undefined && input.defaults !== undefined) {
      ctx.addIssue({ code: "custom", path: ["defaults"], message: '"defaults" goes with "mapping"; in a query, use JSONata\'s own defaults (e.g. x ? x : 0)' });
    }
  });

export type JsonTransformInput = z.output<typeof inputSchema>;

/**
 * Upstream returned status "partial" with null values when a path was missing and had no default, and counted
 * that as success, so a later step silently received nulls. Here a missing path without a default fails the
 * step, naming every such key and path; a default (null included) is the way to say a value is optional.
 */
function transform(input: JsonTransformInput, mapping: Record<string, string>): SkillOutcome {
  const entries: [string, unknown][] = [];
  const missing: { key: string; path: string }[] = [];
  for (const [key, path] of Object.entries(mapping)) {
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

/** Query mode: the JSONata expression's value for the payload; no match is null, never a silent undefined. */
async function runQuery(payload: unknown, query: string): Promise<SkillOutcome> {
  const compiled = compileQuery(query);
  if (!compiled.ok) return failure("VALIDATION_ERROR", `json_transform: ${compiled.message}`);
  try {
    const value = await evaluateBounded(compiled.expression, payload);
    return ok(value === undefined ? null : toStorableJson(value));
  } catch (error) {
    const { message, position } = error as { message?: string; position?: number };
    const where = position === undefined ? "" : ` (at character ${position})`;
    return failure("TRANSFORM_QUERY_FAILED", `json_transform: the query failed: ${message ?? String(error)}${where}`);
  }
}

export const jsonTransformSkill: Skill<JsonTransformInput> = {
  name: "json_transform",
  version: "1.1.0",
  description:
    "Builds a value from a JSON payload, in one of two modes. mapping: each output key takes the value at a path " +
    'such as "data.items[0].name" or "items[-1]", or its default when the path is missing. query: a JSONata ' +
    'expression such as "$sum(items.price)" or "items[price > 10].name" (no $now, $millis or $random: the ' +
    "skill is deterministic).",
  input: inputSchema,
  output: {
    "<out key>": "mapping mode: for each mapping key, the value found at its path, or its default",
    "(value)": "query mode: the expression's value (null when nothing matched)",
  },
  determinism: "deterministic",
  sideEffects: "none",
  estimateLatencyMs: () => 10,
  estimateCostCents: () => 0,
  limits: { query_length: MAX_QUERY_LENGTH, query_time_ms: QUERY_TIME_LIMIT_MS, query_depth: QUERY_DEPTH_LIMIT },
  failureCodes: ["TRANSFORM_PATH_MISSING", "TRANSFORM_QUERY_FAILED", "VALIDATION_ERROR"],
  execute: (input) => (input.query !== undefined ? runQuery(input.payload, input.query) : Promise.resolve(transform(input, input.mapping ?? {}))),
};
