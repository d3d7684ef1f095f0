import { readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { CONFIG_DEFAULTS } from "../src/defaults.js";

// README.md's "Configuration" table against src/config.ts, read independently: the table is parsed from the
// Markdown, the variables config reads are recorded as it reads them, and each documented default is checked by
// setting it explicitly, which must change nothing (while a different value must change something).

const ROOT = new URL("../", import.meta.url);
const HOME = "/tmp/aos-configuration-table";

interface Row {
  name: string;
  /** The default cell as written for this variable: `unset`, or the backticked text. */
  cell: string;
}

function readmeRows(): Row[] {
  const readme = readFileSync(new URL("README.md", ROOT), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("\n## ", readme.indexOf("## Configuration") + 1));
  return section
    .split("\n")
    .filter((line) => line.startsWith("| `"))
    .flatMap((line) => {
      const [names = "", defaults = ""] = line.split(" | ").map((cell) => cell.replace(/^\| /, "").trim());
      const tokens = [...names.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string);
      for (const token of tokens) expect(token, `name each variable in full in "${names}"`).toMatch(/^[A-Z][A-Z0-9_]*$/);
      const cells = defaults.split(" / ");
      expect([1, tokens.length], `one default, or one per variable, in "${line.slice(0, 80)}"`).toContain(cells.length);
      return tokens.map((name, index) => ({ name, cell: (cells.length === 1 ? cells[0] : cells[index]) as string }));
    });
}

/** How the README writes a default, from the value: `unset`, `10`, `true`, `a` (anthropic), `b` (openai). */
function written(value: unknown): string {
  if (value === undefined) return "unset";
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).map(([key, each]) => `\`${String(each)}\` (${key})`).join(", ");
  }
  return `\`${String(value)}\``;
}

/** The variable names loadConfig asks the environment for. */
function variablesRead(env: Record<string, string>): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get(target, key) {
      if (typeof key === "string") read.add(key);
      return Reflect.get(target, key);
    },
  });
  loadConfig(recording);
  return read;
}

describe("README's configuration table", () => {
  const rows = readmeRows();

  it("lists every variable config reads, and only those", () => {
    const read = new Set([...variablesRead({ AOS_HOME: HOME }), ...variablesRead({ AOS_HOME: HOME, PLANNER_BACKEND: "anthropic" })]);
    expect(rows.length).toBeGreaterThan(40);
    expect(new Set(rows.map((row) => row.name))).toEqual(read);
    expect(new Set(Object.keys(CONFIG_DEFAULTS))).toEqual(read);
  });

  it("gives each variable the default of src/defaults.ts", () => {
    for (const row of rows) expect(row.cell, row.name).toBe(written(CONFIG_DEFAULTS[row.name as keyof typeof CONFIG_DEFAULTS]));
  });

  it("gives defaults that are config's own: setting one explicitly changes nothing, another value changes something", () => {
    const unset = loadConfig({ AOS_HOME: HOME });
    for (const { name, cell } of rows) {
      if (cell === "unset" || name === "AOS_HOME" || name === "PLANNER_MODEL") continue;
      const value = /^`([^`]*)`$/.exec(cell)?.[1];
      expect(value, `${name}: ${cell}`).toBeDefined();
      expect(loadConfig({ AOS_HOME: HOME, [name]: value as string }), name).toEqual(unset);
      const other = /^\d+$/.test(value as string) ? String(Number(value) + 1) : { true: "false", false: "true" }[value as string];
      if (other !== undefined) expect(loadConfig({ AOS_HOME: HOME, [name]: other }), name).not.toEqual(unset);
    }
  });

  it("gives AOS_HOME's and PLANNER_MODEL's defaults as config applies them", () => {
    const home = rows.find((row) => row.name === "AOS_HOME")?.cell;
    expect(home).toBe("`~/.aos`");
    expect(loadConfig({}).home).toBe(join(homedir(), ".aos"));
    const models = rows.find((row) => row.name === "PLANNER_MODEL")?.cell ?? "";
    const pairs = [...models.matchAll(/`([^`]+)` \((\w+)\)/g)].map((match) => [match[2] as string, match[1] as string]);
    expect(pairs.map(([backend]) => backend)).toEqual(["anthropic", "openai"]);
    for (const [backend, model] of pairs) {
      expect(loadConfig({ AOS_HOME: HOME, PLANNER_BACKEND: backend as string }).plannerModel, backend).toBe(model);
    }
  });
});

describe("defaults quoted in docs/", () => {
  const pages = [
    ...readdirSync(new URL("docs/", ROOT)).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`),
    ...readdirSync(new URL("docs/skills/", ROOT)).filter((name) => name.endsWith(".md")).map((name) => `docs/skills/${name}`),
  ];

  it("are config's, wherever a page gives a variable's number as its default", () => {
    const numeric = Object.entries(CONFIG_DEFAULTS).flatMap(([name, value]) => (typeof value === "number" ? [[name, value] as const] : []));
    let quoted = 0;
    for (const page of pages) {
      const text = readFileSync(new URL(page, ROOT), "utf8");
      for (const [name, value] of numeric) {
        // `| `NAME` | 30000 |` in a settings table, or `NAME` (default 30,000 ms) / `NAME`, default 1048576 in prose.
        const mentions = new RegExp(`\`${name}\`(?: \\| |,? \\(?default )([0-9][0-9,]*)`, "g");
        for (const match of text.matchAll(mentions)) {
          quoted += 1;
          expect(Number((match[1] as string).replaceAll(",", "")), `${page}: ${match[0]}`).toBe(value);
        }
      }
    }
    expect(quoted).toBeGreaterThan(10);
  });
});
