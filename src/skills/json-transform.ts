import { z } from "zod";
import type { Skill, SkillOutcome } from "./contract.js";
import { parsePath, valueAt } from "./json-path.js";
import { failure, ok } from "./outcome.js";

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
