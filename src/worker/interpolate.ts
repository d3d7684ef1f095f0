import { replaceReferences, wholeReference } from "../planner/references.js";
import { type Segment, valueAt } from "../skills/json-path.js";

/** Thrown when a reference names something the earlier step's result does not have. */
export class UnresolvedReference extends Error {}

function resolve(text: string, context: ReadonlyMap<string, unknown>): unknown {
  const whole = wholeReference(text);
  if (whole !== undefined) return lookup(whole.key, whole.path, whole.text, context);
  return replaceReferences(text, (reference) => {
    const value = lookup(reference.key, reference.path, reference.text, context);
    return typeof value === "string" ? value : JSON.stringify(value);
  });
}

function lookup(key: string, path: readonly Segment[], text: string, context: ReadonlyMap<string, unknown>): unknown {
  if (!context.has(key)) throw new UnresolvedReference(`${text}: step "${key}" has no recorded result`);
  const resolved = valueAt(context.get(key), path);
  if (!resolved.found) throw new UnresolvedReference(`${text} did not resolve: the result of "${key}" has no such path`);
  return resolved.value;
}

/**
 * Replaces `{{step.path}}` references in every string of `params` with values from earlier steps' results.
 * A string that is exactly one reference takes the referenced value with its type (a number stays a number);
 * a reference inside longer text is replaced by the value as text. An unresolvable reference throws, so a
 * step never runs with a literal "{{…}}" where data was meant (upstream left it in place).
 */
export function interpolate(value: unknown, context: ReadonlyMap<string, unknown>): unknown {
  if (typeof value === "string") return value.includes("{{") ? resolve(value, context) : value;
  if (Array.isArray(value)) return value.map((item) => interpolate(item, context));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, context)]));
  }
  return value;
}
