/**
 * `{{step.path}}` references between steps. `step` is an earlier step's output_key or step_id; `path` walks its
 * result with dots and [n] indexes ([-1] counts from the end), e.g. `{{fetch.body.items[0].name}}`.
 */
const REFERENCE = /\{\{\s*([^.{}\s[\]]+)((?:\.[^.{}\s[\]]+|\[-?\d+\])*)\s*\}\}/g;

export interface Reference {
  /** The text matched, braces included. */
  text: string;
  key: string;
  path: (string | number)[];
}

export function parsePath(path: string): (string | number)[] {
  const segments: (string | number)[] = [];
  for (const match of path.matchAll(/\.([^.[\]]+)|\[(-?\d+)\]/g)) {
    segments.push(match[1] !== undefined ? match[1] : Number(match[2]));
  }
  return segments;
}

export function findReferences(text: string): Reference[] {
  return [...text.matchAll(REFERENCE)].map((match) => ({
    text: match[0],
    key: match[1] ?? "",
    path: parsePath(match[2] ?? ""),
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

export type Resolved = { found: true; value: unknown } | { found: false; missing: string };

export function resolvePath(root: unknown, path: readonly (string | number)[]): Resolved {
  let current = root;
  for (const segment of path) {
    if (typeof segment === "number") {
      if (!Array.isArray(current)) return { found: false, missing: `[${segment}] (not an array)` };
      const index = segment < 0 ? current.length + segment : segment;
      if (index < 0 || index >= current.length) return { found: false, missing: `[${segment}] (out of range)` };
      current = current[index];
    } else {
      if (current === null || typeof current !== "object" || !Object.hasOwn(current, segment)) {
        return { found: false, missing: `.${segment}` };
      }
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return { found: true, value: current };
}
