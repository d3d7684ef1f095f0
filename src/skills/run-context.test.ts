import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Database } from "../db/database.js";
import { testConfig } from "../../test/support/harness.js";
import type { ResourceSource, Skill, SkillResources } from "./contract.js";
import { ok } from "./outcome.js";
import { findSkill } from "./registry.js";
import { runContexts } from "./run-context.js";

const config = testConfig();
const db = { kind: "pglite", location: "test", pool: {}, close: async () => undefined } as unknown as Database;

/** A skill as a twelfth one would be written: it declares its store, and nothing else anywhere names it. */
function skillWithStore(name: string, opened: ResourceSource[]): Skill<unknown> {
  const openResources = (source: ResourceSource): SkillResources => {
    opened.push(source);
    return { kv: { name } } as unknown as SkillResources;
  };
  return { ...findSkill("json_transform")!, name, openResources, execute: async () => ok(null) };
}

describe("runContexts", () => {
  it("opens a skill's declared resources at its first call in a run, once, from the runner's database and config", () => {
    const opened: ResourceSource[] = [];
    const skill = skillWithStore("twelfth", opened);
    const shared = runContexts({ db, config });
    const first = shared(skill);
    expect(shared(skill).kv).toBe(first.kv);
    expect(opened).toEqual([{ db, config }]);
    expect(first).toMatchObject({ limits: config, settings: config, kv: { name: "twelfth" } });
    // A new run opens its own.
    runContexts({ db, config })(skill);
    expect(opened).toHaveLength(2);
  });

  it("gives each skill only its own resources, and none to a skill that declares none", () => {
    const shared = runContexts({ db, config });
    const [a, b] = [skillWithStore("a", []), skillWithStore("b", [])];
    expect(shared(a).kv).toEqual({ name: "a" });
    expect(shared(b).kv).toEqual({ name: "b" });
    const plain = shared(findSkill("json_transform")!);
    expect(plain).toEqual({ limits: config, settings: config });
  });

  it("kv_store and calendar_write declare their stores; the registry's other skills declare none", () => {
    const shared = runContexts({ db, config });
    expect(Object.keys(shared(findSkill("kv_store")!)).sort()).toEqual(["kv", "limits", "settings"]);
    expect(Object.keys(shared(findSkill("calendar_write")!)).sort()).toEqual(["calendar", "limits", "settings"]);
  });
});

describe("the worker", () => {
  // What the runner may know of skills: the contract, outcomes, the registry, the shared context, and the JSON path
  // syntax references use. Any other import from src/skills/ names a skill or its backend.
  const GENERIC = new Set(["contract.js", "outcome.js", "registry.js", "run-context.js", "json-path.js"]);

  it("imports no specific skill or skill backend, so a new skill touches no worker file", () => {
    const dir = join(import.meta.dirname, "..", "worker");
    const specific = readdirSync(dir)
      .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
      .flatMap((file) =>
        [...readFileSync(join(dir, file), "utf8").matchAll(/from "\.\.\/skills\/([^"]+)"/g)]
          .map((match) => match[1]!)
          .filter((target) => !GENERIC.has(target))
          .map((target) => `${file} imports skills/${target}`),
      );
    expect(specific).toEqual([]);
  });
});
