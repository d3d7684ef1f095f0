import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseSync } from "vite";
import { describe, expect, it } from "vitest";
import { FAILURE_CATALOG } from "../src/failure-catalog.js";

// Everything below the CLI (services, worker, planner, policy, database, trace, skills, records, proofs, the API and
// the SDK) speaks to HTTP callers as much as to the CLI, so its text names the API's fields, never a CLI flag; the
// CLI words errors in its own terms (src/cli/error-wording.ts). This reads every string and template literal of
// those files, parsed as TypeScript by the parser the test runner ships (comments and docblocks are not literals),
// and fails on any that names a flag (`--tenant-id`). There is no allow-list: a message may name a command a person
// runs (`aos keys rotate`), but the command's flags are the CLI's to state, in its help and its own messages.

const SRC = new URL("../src/", import.meta.url).pathname;
const FLAG = /(?:^|[^\w-])(--[a-z][\w-]*)/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return relative(SRC, path) === "cli" ? [] : sourceFiles(path);
    return /\.ts$/.test(entry.name) && !/\.(test|d)\.ts$/.test(entry.name) ? [path] : [];
  });
}

/** Every string literal's value and template literal's text in a TypeScript file. */
function literals(path: string): string[] {
  const parsed = parseSync(path, readFileSync(path, "utf8"), { lang: "ts" });
  expect(parsed.errors, path).toEqual([]);
  const found: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== "object" || node === null) return;
    const { type, value } = node as { type?: string; value?: unknown };
    if (type === "Literal" && typeof value === "string") found.push(value);
    if (type === "TemplateElement") found.push((value as { raw: string }).raw);
    for (const child of Object.values(node)) visit(child);
  };
  visit(parsed.program);
  return found;
}

describe("text below the CLI", () => {
  const files = sourceFiles(SRC);

  it("names no CLI flag in any string literal", () => {
    expect(files.length).toBeGreaterThan(150);
    expect(files.some((file) => file.includes("/services/"))).toBe(true);
    const flags = files.flatMap((file) =>
      literals(file).flatMap((text) => {
        const match = FLAG.exec(text);
        return match === null ? [] : [`${relative(SRC, file)}: ${match[1]} in ${JSON.stringify(text.slice(0, 100))}`];
      }),
    );
    expect(flags).toEqual([]);
  });

  it("finds a flag where one is written, so the scan itself works", () => {
    const probe = join(SRC, "cli", "error-wording.ts");
    expect(literals(probe).filter((text) => FLAG.test(text)).length).toBeGreaterThan(5);
  });

  it("the failure catalog's suggestions, which the API returns in skills' contracts and simulate's risks, name no flag", () => {
    for (const [code, entry] of Object.entries(FAILURE_CATALOG)) {
      expect(FLAG.test(entry.suggestion) || /(?:^|\s)-v\b/.test(entry.suggestion), `${code}: ${entry.suggestion}`).toBe(false);
    }
  });
});
