import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command, Option } from "commander";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { buildProgram, main } from "../src/cli/main.js";
import type { Output } from "../src/cli/output.js";
import { runCli, tempHome } from "./support/cli.js";
import { tempDir } from "./support/temp-dirs.js";

// Every verb of the CLI, enumerated from the commander program itself (a verb added later is covered without
// editing this file), reports every error the same way: `error: <message>` first, then `hint: <what to do>`, a
// non-zero exit, nothing on stdout, and no stack trace. For each verb: an unknown flag, its required inputs left
// out, and one wrong value, chosen from its own arguments and flags (an unknown run, a blank tenant, a number that
// is not one, a file that is not there). Run in this process (`main` is what bin/aos.js runs), plus real processes
// for the exit codes a shell sees.

const home = tempHome();
process.env.AOS_HOME = home;
process.env.NO_COLOR = "1";
const files = tempDir("aos-cli-errors");
const UNKNOWN_ID = "00000000-0000-4000-8000-00000000abcd";
const MISSING = join(files, "no-such-dir", "missing.json");

/** What fills a required input when another input of the verb is the one made wrong. */
function goodValue(name: string): string {
  if (name.endsWith("id")) return "demo";
  if (name === "older-than") return "30d";
  if (name === "seq") return "0";
  if (["output", "key", "file", "plan", "state", "log-key", "bundle", "old", "new"].includes(name)) return MISSING;
  return "n";
}

interface Verb {
  path: string[];
  command: Command;
}

function verbs(): Verb[] {
  const program = buildProgram({ config: loadConfig(), output: capture(), exitCode: 0 });
  const found: Verb[] = [];
  const walk = (command: Command, path: string[]) => {
    // A verb is a command that acts: a leaf, or a parent with flags of its own (`aos keys --json`, beside `keys rotate`).
    if (command.commands.length === 0 || command.options.length > 0) found.push({ path, command });
    for (const sub of command.commands) walk(sub, [...path, sub.name()]);
  };
  for (const command of program.commands) walk(command, [command.name()]);
  return found;
}

function optionName(option: Option): string {
  return (option.long ?? option.short ?? "").replace(/^-+/, "");
}

/** The verb's argv with every required argument and flag given, `wrong` replacing the one made wrong. */
function argvOf(verb: Verb, wrong: { name: string; value: string } | undefined): string[] {
  const argv = [...verb.path];
  for (const argument of verb.command.registeredArguments) {
    if (!argument.required) continue;
    argv.push(wrong?.name === argument.name() ? wrong.value : argument.name().endsWith("_id") ? UNKNOWN_ID : goodValue(argument.name()));
  }
  for (const option of verb.command.options) {
    const name = optionName(option);
    if (wrong?.name === name) argv.push(option.long ?? "", wrong.value);
    else if (option.mandatory) argv.push(option.long ?? "", goodValue(name));
  }
  return argv;
}

/**
 * The one wrong value a verb gets: an unknown id argument (the run, the key); else a blank --tenant-id; else a
 * number that is not one; else a file or directory that is not there. Undefined for a verb that takes no value.
 */
function wrongValue(verb: Verb): { name: string; value: string } | undefined {
  const id = verb.command.registeredArguments.find((argument) => argument.name().endsWith("_id"));
  if (id !== undefined) return { name: id.name(), value: UNKNOWN_ID };
  const options = verb.command.options;
  if (options.some((option) => option.long === "--tenant-id")) return { name: "tenant-id", value: "  " };
  const numeric = options.find((option) => /<(n|k|cents)>/.test(option.flags));
  if (numeric !== undefined) return { name: optionName(numeric), value: "many" };
  const named = verb.command.registeredArguments.find((argument) => argument.required);
  if (named !== undefined) return { name: named.name(), value: named.name() === "name" ? "no_such_skill" : named.name() === "query_type" ? "no_such_question" : MISSING };
  const path = options.find((option) => /<(file|dir)>/.test(option.flags));
  return path === undefined ? undefined : { name: optionName(path), value: MISSING };
}

function capture(): Output & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (text) => void stdout.push(text), err: (text) => void stderr.push(text), isTty: false, color: false };
}

async function run(argv: string[]): Promise<{ argv: string; code: number; stdout: string; stderr: string }> {
  const output = capture();
  const code = await main(argv, output);
  return { argv: argv.join(" "), code, stdout: output.stdout.join("\n"), stderr: output.stderr.join("\n") };
}

/** The shape every error has, as one comparable value, so a failure names the verb and shows what it printed. */
function shapeOf(result: Awaited<ReturnType<typeof run>>) {
  const lines = result.stderr.split("\n");
  return {
    argv: result.argv,
    failed: result.code !== 0,
    firstLineIsError: /^error: \S/.test(lines[0] ?? ""),
    hasHint: lines.some((line) => /^hint: \S/.test(line)),
    stdout: result.stdout,
    stackTrace: /^\s+at /m.test(result.stderr),
    stderr: result.stderr,
  };
}

const WELL_FORMED = { failed: true, firstLineIsError: true, hasHint: true, stdout: "", stackTrace: false };

describe("every CLI verb reports errors as error: plus a hint", () => {
  const all = verbs();

  beforeAll(async () => {
    // The database migrated once, so each verb's error is its own, not a first start's.
    expect(await main(["migrate"], capture())).toBe(0);
  });

  it("finds the verbs from the program, nested ones included", () => {
    const paths = all.map((verb) => verb.path.join(" "));
    expect(paths).toEqual(expect.arrayContaining(["run", "proof", "prune", "policy set", "api-keys revoke", "log export-tiles", "keys", "keys rotate", "witness serve"]));
    expect(paths.length).toBeGreaterThan(35);
  });

  it("an unknown flag: exit 2, commander's message and a hint naming the verb's --help", async () => {
    for (const verb of all) {
      const result = await run([...argvOf(verb, undefined), "--bogus-flag"]);
      expect(shapeOf(result)).toEqual({ ...shapeOf(result), ...WELL_FORMED });
      expect([result.argv, result.code]).toEqual([result.argv, 2]);
      expect(result.stderr).toContain(`hint: Run \`aos ${verb.path.join(" ")} --help\` for usage.`);
    }
    const unknownVerb = await run(["no-such-verb"]);
    expect(shapeOf(unknownVerb)).toEqual({ ...shapeOf(unknownVerb), ...WELL_FORMED });
  });

  it("required inputs left out: exit 2, naming what is missing", async () => {
    for (const verb of all) {
      const required = verb.command.registeredArguments.some((argument) => argument.required) || verb.command.options.some((option) => option.mandatory);
      if (!required) continue;
      const result = await run(verb.path);
      expect(shapeOf(result)).toEqual({ ...shapeOf(result), ...WELL_FORMED });
      expect([result.argv, result.code, result.stderr]).toEqual([result.argv, 2, expect.stringMatching(/^error: (missing required argument|required option)/)]);
    }
  });

  it("one wrong value per verb: an unknown run is 'Run not found' from every verb that names one", { timeout: 600_000 }, async () => {
    // Tenant demo exists, so a verb that names a run gets as far as the run (a tenant that does not is refused first).
    expect((await run(["api-keys", "create", "--tenant-id", "demo", "--name", "k"])).code).toBe(0);
    const tried: string[] = [];
    for (const verb of all) {
      const wrong = wrongValue(verb);
      if (wrong === undefined) continue;
      const result = await run(argvOf(verb, wrong));
      tried.push(verb.path.join(" "));
      expect(shapeOf(result)).toEqual({ ...shapeOf(result), ...WELL_FORMED });
      if (wrong.name === "run_id") expect([result.argv, result.stderr]).toEqual([result.argv, expect.stringContaining(`Run not found: ${UNKNOWN_ID}`)]);
      if (wrong.name === "tenant-id") expect([result.argv, result.code]).toEqual([result.argv, 2]);
    }
    // Every verb but the few that take no value at all (`list-skills`, `keys`, `migrate`…) was given a wrong one.
    expect(all.length - tried.length).toBeLessThanOrEqual(4);
  });
});

describe("decisions on a run that is not waiting name the run's state", () => {
  it("a finished run: already succeeded, nothing to approve, reject or cancel; a queued one: not waiting for approval", { timeout: 300_000 }, async () => {
    const plan = join(files, "plan.json");
    writeFileSync(plan, JSON.stringify({ steps: [{ step_id: "s", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }] }));
    const finished = JSON.parse((await run(["run", "--tenant-id", "demo", "--goal", "g", "--plan", plan, "--json"])).stdout) as { run_id: string };
    for (const [verb, extra] of [["approve", ["--by", "me"]], ["reject", ["--by", "me"]], ["cancel", []]] as const) {
      const result = await run([verb, finished.run_id, "--tenant-id", "demo", ...extra]);
      expect(shapeOf(result)).toEqual({ ...shapeOf(result), ...WELL_FORMED });
      expect([verb, result.code, result.stderr]).toEqual([
        verb,
        1,
        `error: run ${finished.run_id} already succeeded; nothing to ${verb}\nhint: See how it ended with \`aos get-run <run_id> --tenant-id T\`.`,
      ]);
    }
    const queued = JSON.parse((await run(["run", "--tenant-id", "demo", "--goal", "g", "--plan", plan, "--no-wait", "--json"])).stdout) as { run_id: string };
    const early = await run(["approve", queued.run_id, "--tenant-id", "demo", "--by", "me"]);
    expect([early.code, early.stderr]).toEqual([1, expect.stringMatching(new RegExp(`^error: run ${queued.run_id} is queued, not waiting for approval; nothing to approve\nhint: Only a run waiting for approval`))]);
  });
});

describe("as a shell sees it (real processes)", () => {
  it("a nested verb's parse error exits 2 with a hint, as a top-level one does", async () => {
    const env = { AOS_HOME: home };
    for (const argv of [["policy", "set", "--tenant-id", "demo", "--file", MISSING, "--bogus"], ["list-runs", "--tenant-id", "demo", "--bogus"]]) {
      const result = await runCli(argv, env);
      expect([argv.join(" "), result.code, result.stdout, result.stderr]).toEqual([
        argv.join(" "),
        2,
        "",
        expect.stringMatching(/^error: unknown option '--bogus'\nhint: Run `aos [a-z -]+ --help` for usage\.\n$/),
      ]);
    }
  });
});
