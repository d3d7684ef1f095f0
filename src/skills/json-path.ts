// Paths into JSON values, shared by json_transform's mapping and the planner's {{step.path}} references.

/** One step of a path: an object key, or an array index (negative counts from the end). */
export type Segment = { key: string } | { index: number };

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
export function valueAt(payload: unknown, segments: readonly Segment[]): { found: true; value: unknown } | { found: false } {
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
