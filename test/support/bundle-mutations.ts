import { canonicalJson } from "../../src/trace/canonical-json.js";

/**
 * Every single change a bundle holder can make to an exported proof bundle, generated from the bundle itself: each
 * value replaced (strings edited, numbers moved, nulls filled), each member removed or added, each array entry
 * dropped, repeated or moved, every value inside the JSON texts the bundle carries (headers, payloads, run-end,
 * plan) changed and re-encoded canonically, and text-level re-spellings of numbers and timestamps in the file.
 */
export interface BundleMutation {
  /** Where and what, for messages: `steps[1].params → {"a":2}`. */
  what: string;
  /** The bundle file's text after the change. */
  text: string;
  /** A payload replaced by null: withheld, the one change that may still verify (as pruned). */
  withholds: boolean;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

const PAYLOADS = new Set(["params", "outcome", "error"]);

export function bundleMutations(bundle: object): BundleMutation[] {
  const root = JSON.parse(JSON.stringify(bundle)) as Json;
  const out: BundleMutation[] = [];
  const original = JSON.stringify(root, null, 2);
  // A "change" that leaves the same text (12345678901234567000 + 1 is the same double) changes nothing: skipped.
  const emit = (what: string, next: Json, withholds = false) => {
    const text = JSON.stringify(next, null, 2);
    if (text !== original) out.push({ what, text, withholds });
  };
  walk(root, [], (path, value) => {
    for (const [label, replacement] of replacements(value)) {
      const withholds = replacement === null && typeof value === "string" && isPayloadPath(path);
      emit(`${describe(path)} ${label}`, setAt(root, path, replacement), withholds);
    }
    if (typeof value === "string" && looksLikeJson(value)) {
      const inner = JSON.parse(value) as Json;
      walk(inner, [], (innerPath, innerValue) => {
        for (const [label, replacement] of replacements(innerValue)) {
          if (innerPath.length === 0) continue;
          emit(`${describe(path)} → ${describe(innerPath)} ${label}`, setAt(root, path, canonicalJson(setAt(inner, innerPath, replacement))));
        }
      });
    }
    if (Array.isArray(value)) {
      value.forEach((_, index) => emit(`${describe(path)}[${index}] dropped`, setAt(root, path, value.filter((__, at) => at !== index))));
      if (value.length > 0) emit(`${describe(path)} last entry repeated`, setAt(root, path, [...value, value.at(-1) as Json]));
      if (value.length > 1) emit(`${describe(path)} reversed`, setAt(root, path, [...value].reverse()));
    } else if (value !== null && typeof value === "object") {
      for (const key of Object.keys(value)) {
        const { [key]: _, ...rest } = value;
        emit(`${describe([...path, key])} removed`, setAt(root, path, rest));
      }
      emit(`${describe(path)} member added`, setAt(root, path, { ...value, extra: 1 }));
    }
  });
  out.push(...textRespellings(original));
  return out;
}

function isPayloadPath(path: Path): boolean {
  return path.length === 3 && path[0] === "steps" && PAYLOADS.has(String(path[2]));
}

function looksLikeJson(text: string): boolean {
  if (!/^[[{"]/.test(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Replacements for one value: each a label and the new value. */
function replacements(value: Json): [string, Json][] {
  switch (typeof value) {
    case "string":
      return [
        ["+ one character", `${value}x`],
        ["one character changed", value.length === 0 ? "x" : `${value.slice(0, Math.floor(value.length / 2))}${value[Math.floor(value.length / 2)] === "0" ? "1" : "0"}${value.slice(Math.floor(value.length / 2) + 1)}`],
        ["→ null", null],
      ];
    case "number":
      return [
        ["+ 1", value + 1],
        ["→ string", String(value)],
      ];
    case "boolean":
      return [["negated", !value]];
    case "object":
      return value === null ? [["→ \"x\"", "x"], ["→ 0", 0]] : [];
    default:
      return [];
  }
}

function walk(value: Json, path: Path, visit: (path: Path, value: Json) => void): void {
  visit(path, value);
  if (Array.isArray(value)) value.forEach((item, index) => walk(item, [...path, index], visit));
  else if (value !== null && typeof value === "object") for (const [key, item] of Object.entries(value)) walk(item, [...path, key], visit);
}

function setAt(root: Json, path: Path, replacement: Json): Json {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(root)) return root.map((item, index) => (index === head ? setAt(item, rest, replacement) : item));
  const object = root as Record<string, Json>;
  return { ...object, [head as string]: setAt(object[head as string] as Json, rest, replacement) };
}

function describe(path: Path): string {
  return path.map((part) => (typeof part === "number" ? `[${part}]` : `.${part}`)).join("").replace(/^\./, "") || "(bundle)";
}

/**
 * Number and timestamp re-spellings in the file's text (inside the escaped JSON it carries): the same value to a
 * JSON parser, different bytes to a hash. `3` → `3.0`, `0.5` → `0.50`, `1.5e-7`-style exponents, a timestamp's
 * milliseconds given a fourth digit or its Z as +00:00.
 */
function textRespellings(text: string): BundleMutation[] {
  const out: BundleMutation[] = [];
  const seen = new Set<string>();
  const edit = (what: string, at: number, length: number, replacement: string) => {
    const next = text.slice(0, at) + replacement + text.slice(at + length);
    if (next === text || seen.has(next)) return;
    seen.add(next);
    out.push({ what: `text: ${what}`, text: next, withholds: false });
  };
  for (const match of text.matchAll(/(?<=\\":)(-?\d+)(\.\d+)?(?=[,}\]])/g)) {
    const spelled = match[2] === undefined ? `${match[1]}.0` : `${match[0]}0`;
    edit(`number ${match[0]} → ${spelled} at ${match.index}`, match.index, match[0].length, spelled);
  }
  for (const match of text.matchAll(/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z/g)) {
    edit(`timestamp ${match[0]} with a 4th digit`, match.index, match[0].length, `${match[1]}0Z`);
    edit(`timestamp ${match[0]} as +00:00`, match.index, match[0].length, `${match[1]}+00:00`);
  }
  return out;
}
