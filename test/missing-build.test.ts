import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CliResult, runProgram } from "./support/cli.js";
import { tempDir } from "./support/temp-dirs.js";

// `aos` before `npm run build`, or from a package that lost files: bin/aos.js says what is missing and what to do,
// as `error:` and `hint:` lines with exit 1, instead of Node's stack trace. And `npm pack` (prepack) refuses a
// package without a build, or with a build older than its sources.

const ROOT = new URL("..", import.meta.url).pathname;
const DEPENDENCIES = Object.keys((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: object }).dependencies);

/** A copy of the package's bin/ (and package.json) in a folder of its own, as a clone (with src/) or an install. */
function packageCopy(kind: "clone" | "installed"): string {
  const dir = tempDir("aos-unbuilt");
  cpSync(join(ROOT, "bin"), join(dir, "bin"), { recursive: true });
  cpSync(join(ROOT, "package.json"), join(dir, "package.json"));
  if (kind === "clone") mkdirSync(join(dir, "src"));
  return dir;
}

function aos(dir: string, args: string[]): Promise<CliResult> {
  return runProgram(process.execPath, [join(dir, "bin/aos.js"), ...args], { AOS_HOME: tempDir("aos-unbuilt-home") }, dir);
}

function expectFriendly(result: CliResult, error: RegExp, hint: RegExp): void {
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(error);
  expect(lines[1]).toMatch(hint);
  expect(result.stderr).not.toMatch(/^\s+at |node:internal|ERR_MODULE_NOT_FOUND/m);
  expect(result.stdout).toBe("");
  expect(result.code).toBe(1);
}

describe("aos without its build", () => {
  it("in a clone before `npm run build`: says dist/ is missing and how to build it", async () => {
    const dir = packageCopy("clone");
    for (const args of [[], ["--help"], ["list-runs", "--tenant-id", "demo"]]) {
      expectFriendly(await aos(dir, args), /^error: dist\/ is missing$/, /^hint: build the CLI: run `npm ci && npm run build` in the repository/);
    }
  });

  it("in an installed package without dist/: says the installation is incomplete and to reinstall", async () => {
    expectFriendly(
      await aos(packageCopy("installed"), ["--help"]),
      /^error: this installation of aos-platform is incomplete: dist\/ is missing$/,
      /^hint: reinstall aos-platform from where it came from/,
    );
  });

  it("in a clone built without `npm ci`: names the missing dependency and says to run npm ci", async () => {
    const dir = packageCopy("clone");
    cpSync(join(ROOT, "dist"), join(dir, "dist"), { recursive: true });
    const result = await aos(dir, ["--help"]);
    expectFriendly(result, /^error: the package \S+ is not installed$/, /^hint: run `npm ci` in the repository/);
    expect(DEPENDENCIES).toContain(/the package (\S+) is not installed/.exec(result.stderr)?.[1]);
  });

  it("with a file of dist/ gone: says the build is incomplete and to rebuild", async () => {
    const dir = packageCopy("clone");
    cpSync(join(ROOT, "dist"), join(dir, "dist"), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
    rmSync(join(dir, "dist/cli/commands/run.js"));
    expectFriendly(await aos(dir, ["--help"]), /^error: dist\/ is incomplete/, /^hint: run `npm run build` in the repository/);
  });
});

describe("npm pack's prepack check (scripts/require-build.mjs)", () => {
  function packageWithSources(): string {
    const dir = tempDir("aos-prepack");
    mkdirSync(join(dir, "scripts"));
    cpSync(join(ROOT, "scripts/require-build.mjs"), join(dir, "scripts/require-build.mjs"));
    mkdirSync(join(dir, "src/db/migrations"), { recursive: true });
    writeFileSync(join(dir, "src/index.ts"), "export {};\n");
    writeFileSync(join(dir, "src/db/migrations/0001_core.sql"), "select 1;\n");
    return dir;
  }
  const check = (dir: string) => runProgram(process.execPath, [join(dir, "scripts/require-build.mjs")], {}, dir);
  const build = (dir: string, at: Date) => {
    mkdirSync(join(dir, "dist/cli"), { recursive: true });
    writeFileSync(join(dir, "dist/cli/main.js"), "export {};\n");
    utimesSync(join(dir, "dist/cli/main.js"), at, at);
  };

  it("refuses a package with no dist/", async () => {
    const result = await check(packageWithSources());
    expect(result.stderr).toMatch(/^error: dist\/ is missing.*\nhint: run `npm run build`, then pack again\n$/);
    expect(result.code).toBe(1);
  });

  it("refuses a build older than a source or migration file, naming it", async () => {
    const dir = packageWithSources();
    build(dir, new Date(Date.now() - 3_600_000));
    const newer = new Date();
    utimesSync(join(dir, "src/index.ts"), new Date(0), new Date(0));
    utimesSync(join(dir, "src/db/migrations/0001_core.sql"), newer, newer);
    const result = await check(dir);
    expect(result.stderr).toMatch(/^error: dist\/ is older than src\/db\/migrations\/0001_core\.sql\n/);
    expect(result.code).toBe(1);
  });

  it("accepts a build newer than every source; test files do not count", async () => {
    const dir = packageWithSources();
    writeFileSync(join(dir, "src/index.test.ts"), "export {};\n");
    for (const file of ["src/index.ts", "src/db/migrations/0001_core.sql"]) utimesSync(join(dir, file), new Date(0), new Date(0));
    build(dir, new Date(Date.now() - 3_600_000));
    const result = await check(dir);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });
});
