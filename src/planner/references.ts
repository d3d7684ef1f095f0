import { parsePath, type Segment } from "../skills/json-path.js";

/**
 * `{{step.path}}` references between steps. `step` is an earlier step's output_key or step_id; `path` walks its
 * result with dots and [n] indexes ([-1] counts from the end), e.g. `{{fetch.body.items[0].name}}`.
 */
const REFERENCE = /\{\{\s*([^.{}\s[\]]+)((?:\.[^.{}\s[\]]+|\[-?\d+\])*)\s*\}\}/g;

export interface Reference {
  /** The text matched, braces included. */
  text: string;
  key: string;
  path: Segment[];
}

export function findReferences(text: string): Reference[] {
  return [...text.matchAll(REFERENCE)].map((match) => ({
    text: match[0],
    key: match[1] ?? "",
    // The pattern admits only well-formed paths, so parsePath cannot fail here.
    path: parsePath((match[2] ?? "").replace(/^\./, "")) ?? [],
  }));
}

/** A string that is exactly one reference: its value keeps its type instead of being turned into text. */
export function wholeReference(text: string): Reference | undefined {
  const references = findReferences(text);
  return references.length === 1 && references[0]?.text === text.trim() ? references[0] : undefined;
}

/** Every string anywhere inside `value`, with the path that leads to it. */
export function* stringsIn(value: unknown, path: (string | number)[] = []): Generator<[string, (string | number)[]]> {
  if (typeof value === "string") {
    yield [value, path];
  } else if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) yield* stringsIn(item, [...path, index]);
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) yield* stringsIn(item, [...path, key]);
  }
}
