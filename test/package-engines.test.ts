import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import semver from "semver";
import { describe, expect, it } from "vitest";
import { runProgram } from "./support/cli.js";
import { tempDir } from "./support/temp-dirs.js";

// "Node.js ≥ 20.19" (README, package.json engines) holds for every package npm installs: no EBADENGINE warning from
// `npm ci` in the clone, nor from installing the package. Read from package-lock.json with semver, the library npm
// checks engines with, over every version a range admits, not a handful of versions; and by npm itself on this Node.

const ROOT = new URL("..", import.meta.url).pathname;
const MANIFEST = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  bundleDependencies: unknown;
};
interface LockEntry {
  version: string;
  dev?: boolean;
  engines?: { node?: string } | string[];
}
const LOCK = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };

/** The Node versions our engines field admits. */
const SUPPORTED = ">=20.19.0";
// The development tools (vitest, @redocly/cli, rolldown's wasm binding) leave out Node 21, 22.0–22.12 and 23, lines
// that are out of support; the clone's own toolchain is held to the supported release lines instead.
const SUPPORTED_FOR_DEVELOPMENT = "^20.19.0 || ^22.13.0 || >=24.0.0";

/** Each package of a lock whose engines.node leaves out some Node version of `range`, as `name@version wants …`. */
function excluding(range: string, which: (entry: LockEntry) => boolean, packages = LOCK.packages): string[] {
  return Object.entries(packages)
    .filter(([path, entry]) => path !== "" && which(entry))
    .flatMap(([path, entry]) => {
      const wanted = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (wanted === undefined || semver.subset(range, wanted, { includePrerelease: true })) return [];
      return [`${path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)}@${entry.version} wants node ${wanted}`];
    });
}

describe("Node versions: package.json engines and every dependency's", () => {
  it("our engines field is the supported range the README states", () => {
    expect(semver.subset(MANIFEST.engines.node, SUPPORTED) && semver.subset(SUPPORTED, MANIFEST.engines.node)).toBe(true);
  });

  it("every runtime dependency (what installing the package brings) runs on every Node from 20.19 on", () => {
    expect(excluding(SUPPORTED, (entry) => entry.dev !== true)).toEqual([]);
  });

  it("every package `npm ci` installs in the clone runs on the supported Node lines", () => {
    expect(excluding(SUPPORTED_FOR_DEVELOPMENT, () => true)).toEqual([]);
  });

  it("the check finds a dependency that wants a newer Node (cookie@2 through light-my-request, before the override)", () => {
    const packages = { ...LOCK.packages, "node_modules/light-my-request/node_modules/cookie": { version: "2.0.2", engines: { node: ">=22" } } };
    expect(excluding(SUPPORTED, (entry) => entry.dev !== true, packages)).toEqual(["cookie@2.0.2 wants node >=22"]);
    expect(excluding(">=20.19.0 <21", () => true, { "node_modules/x": { version: "1.0.0", engines: { node: "^20.19.0 || >=22.12.0" } } })).toEqual([]);
    expect(excluding(">=20.19.0", () => true, { "node_modules/x": { version: "1.0.0", engines: { node: "^20.19.0 || >=22.12.0" } } })).toHaveLength(1);
  });

  it("npm ci --engine-strict accepts the lock file on this Node, and refuses one with a package that wants a newer Node", async () => {
    const dryRun = async (lock: string) => {
      const dir = tempDir("aos-engines");
      writeFileSync(join(dir, "package.json"), readFileSync(join(ROOT, "package.json")));
      writeFileSync(join(dir, "package-lock.json"), lock);
      writeFileSync(join(dir, "npmrc"), "");
      const env = { npm_config_userconfig: join(dir, "npmrc"), npm_config_cache: join(dir, "cache"), npm_config_update_notifier: "false" };
      return runProgram("npm", ["ci", "--dry-run", "--offline", "--engine-strict", "--no-audit", "--no-fund"], env, dir);
    };
    const text = readFileSync(join(ROOT, "package-lock.json"), "utf8");
    const accepted = await dryRun(text);
    expect(accepted.stderr).not.toMatch(/EBADENGINE|npm error/);
    expect(accepted.code).toBe(0);

    const lock = JSON.parse(text) as { packages: Record<string, LockEntry> };
    (lock.packages["node_modules/zod"] as LockEntry).engines = { node: `>${process.versions.node}` };
    const refused = await dryRun(JSON.stringify(lock));
    expect(refused.stderr).toMatch(/EBADENGINE[\s\S]*zod@/);
    expect(refused.code).not.toBe(0);
  });

  it("the package bundles every runtime dependency, so installing it needs no registry (docs/install.md)", () => {
    const bundled = MANIFEST.bundleDependencies === true ? Object.keys(MANIFEST.dependencies) : MANIFEST.bundleDependencies;
    expect(bundled, 'set "bundleDependencies": true in package.json (npm install may have rewritten it as a list)').toEqual(
      Object.keys(MANIFEST.dependencies),
    );
  });
});
