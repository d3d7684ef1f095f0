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

function toReference(text: string, key: string | undefined, path: string | undefined): Reference {
  // The pattern admits only well-formed paths, so parsePath cannot fail here.
  return { text, key: key ?? "", path: parsePath((path ?? "").replace(/^\./, "")) ?? [] };
}

export function findReferences(text: string): Reference[] {
  return [...text.matchAll(REFERENCE)].map((match) => toReference(match[0], match[1], match[2]));
}

/**
 * `text` with every reference replaced, in one pass over the original text: a replacement value is never scanned
 * again, so a value that itself reads like "{{…}}" is inserted as it is.
 */
export function replaceReferences(text: string, replacement: (reference: Reference) => string): string {
  return text.replace(REFERENCE, (matched: string, key: string, path: string) => replacement(toReference(matched, key, path)));
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
