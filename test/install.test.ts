import { once } from "node:events";
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliChild, type CliResult, runProgram, spawnProgram } from "./support/cli.js";
import { tempDir } from "./support/temp-dirs.js";

// The package as a user gets it: `npm pack` of the built repository, then `npm install <tarball>` in an empty folder
// with an empty npm cache and --offline, so no registry and nothing of the clone can help (package.json bundles the
// runtime dependencies). There, outside the clone, `aos` is our CLI and "aos-platform/client" our SDK.

const ROOT = new URL("..", import.meta.url).pathname;
const NAME = "aos-platform";
const MANIFEST = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string };
const LOCK = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };

interface Packed {
  filename: string;
  files: { path: string }[];
  bundled: string[];
}

let packed: Packed;
let installed: CliResult;
let consumer: string;
const servers: CliChild[] = [];

/** npm with an empty user config and a cache of its own: the machine's npm settings and cache play no part. */
function npm(args: string[], cwd: string, cache: string): Promise<CliResult> {
  const userconfig = join(cache, "npmrc");
  writeFileSync(userconfig, "");
  return runProgram("npm", args, { npm_config_cache: cache, npm_config_userconfig: userconfig, npm_config_update_notifier: "false" }, cwd);
}

/** The installed `aos`, started through node_modules/.bin the way npm links it. */
function aos(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runProgram(join(consumer, "node_modules/.bin/aos"), args, env, consumer);
}

beforeAll(async () => {
  const out = tempDir("aos-pack");
  const pack = await npm(["pack", "--json", "--pack-destination", out], ROOT, tempDir("aos-npm-cache"));
  expect(pack.code, pack.stderr).toBe(0);
  packed = (JSON.parse(pack.stdout) as Packed[])[0] as Packed;

  consumer = tempDir("aos-consumer");
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  installed = await npm(["install", join(out, packed.filename), "--offline", "--no-audit", "--no-fund"], consumer, tempDir("aos-npm-cache"));
}, 1_800_000);

afterAll(async () => {
  for (const server of servers.splice(0)) {
    if (server.child.exitCode === null) {
      server.child.kill("SIGTERM");
      await once(server.child, "exit");
    }
  }
});

describe(`${NAME}, packed and installed into an empty folder with no registry`, () => {
  it("is named aos-platform, the name free on npm (docs/install.md), not aos, which is another package", () => {
    expect(MANIFEST.name).toBe(NAME);
    expect(packed.filename).toBe(`${NAME}-${MANIFEST.version}.tgz`);
  });

  it("ships the CLI, the build, the README and the examples of the repository, and none of its other files", () => {
    const own = packed.files.map((file) => file.path).filter((path) => !path.startsWith("node_modules/"));
    const allowed = /^(package\.json|README\.md|bin\/aos\.js|examples\/[\w-]+\.(json|mjs)|dist\/[\w/-]+\.(js|js\.map|d\.ts|sql)|dist\/db\/pgdata-template\.(tar\.gz|json))$/;
    expect(own.filter((path) => !allowed.test(path))).toEqual([]);
    expect(own.filter((path) => /(^|\/)(test|tests|fixtures|__tests__)\/|\.test\.|\.env|\.pem$|\.key$|\.aos/.test(path))).toEqual([]);
    expect(own).toEqual(expect.arrayContaining(["bin/aos.js", "dist/cli/main.js", "dist/index.js", "dist/client/index.js", "dist/client/index.d.ts"]));
    // The embedded database's template (docs/benchmarks.md): a fresh AOS_HOME of an installed copy starts from it.
    expect(own).toEqual(expect.arrayContaining(["dist/db/pgdata-template.tar.gz", "dist/db/pgdata-template.json"]));
    const migrations = readdirSync(join(ROOT, "src/db/migrations")).map((file) => `dist/db/migrations/${file}`);
    expect(own.filter((path) => path.startsWith("dist/db/migrations/")).sort()).toEqual(migrations.sort());
  });

  it("holds no private key or API key among its own files", () => {
    const unpacked = join(consumer, "node_modules", NAME);
    const own = packed.files.map((file) => file.path).filter((path) => !path.startsWith("node_modules/"));
    for (const path of own) {
      const text = readFileSync(join(unpacked, path), "utf8");
      expect(text, path).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\s]{40,}/);
      expect(text, path).not.toMatch(/\baos_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/);
    }
  });

  it("bundles exactly the runtime dependencies of package-lock.json, no development tool", () => {
    const runtime = new Set(
      Object.entries(LOCK.packages)
        .filter(([path, entry]) => path !== "" && entry.dev !== true)
        .map(([path]) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)),
    );
    expect([...packed.bundled].sort()).toEqual([...runtime].sort());
  });

  it("installs with no registry, no cache and no engine warning", () => {
    expect(installed.stderr).not.toMatch(/EBADENGINE|ENOTCACHED|npm error/);
    expect(installed.code, installed.stderr).toBe(0);
    expect(existsSync(join(consumer, "node_modules", NAME, "dist/cli/main.js"))).toBe(true);
  });

  it("runs our aos by its bin name: npx aos and node_modules/.bin/aos", async () => {
    const npx = await runProgram("npx", ["--offline", "aos", "--help"], { npm_config_cache: tempDir("aos-npm-cache") }, consumer);
    expect(npx.stdout).toMatch(/^Usage: aos /m);
    expect(npx.stdout).toContain("governed agent runs");
    expect(npx.code).toBe(0);
    const skills = await aos(["list-skills", "--json"]);
    expect(skills.code).toBe(0);
    expect((JSON.parse(skills.stdout) as { name: string }[]).map((skill) => skill.name)).toContain("json_transform");
  });

  it("runs the shipped example plan on the embedded database, and its exported proof verifies offline", { timeout: 600_000 }, async () => {
    const env = { AOS_HOME: tempDir("aos-installed-home") };
    const plan = join(consumer, "node_modules", NAME, "examples/summarise.json");
    const run = await aos(["run", "--tenant-id", "demo", "--goal", "Summarise the demo order", "--plan", plan], env);
    expect(run.stdout).toMatch(/proof: VERIFIED/);
    expect(run.code).toBe(0);
    const runId = /^Run ([0-9a-f-]{36}) +succeeded/m.exec(run.stdout)?.[1] as string;
    const exported = await aos(["export-proof", runId, "--tenant-id", "demo", "-o", "run.aosproof.json"], env);
    expect(exported.code).toBe(0);
    const keys = await aos(["keys"], env);
    writeFileSync(join(consumer, "aos.vkey"), keys.stdout);
    const verified = await aos(["verify", "run.aosproof.json", "--key", "aos.vkey"], { AOS_HOME: tempDir("aos-no-home") });
    expect(verified.stdout).toMatch(/VERIFIED/);
    expect(verified.code).toBe(0);
  });

  it(`serves the API, and examples/sdk-walk.mjs, importing "${NAME}/client", walks a run to a VERIFIED bundle`, { timeout: 600_000 }, async () => {
    const env = { AOS_HOME: tempDir("aos-installed-home") };
    const created = await aos(["api-keys", "create", "--tenant-id", "demo", "--name", "walk", "--json"], env);
    expect(created.code).toBe(0);
    const { key } = JSON.parse(created.stdout) as { key: string };
    const server = spawnProgram(join(consumer, "node_modules/.bin/aos"), ["serve", "--port", "0", "-q"], env, consumer);
    servers.push(server);
    const url = await listeningUrl(server);
    // A copy outside the package: the import is resolved from the consumer's node_modules, as in a user's project.
    copyFileSync(join(consumer, "node_modules", NAME, "examples/sdk-walk.mjs"), join(consumer, "sdk-walk.mjs"));
    const walk = await runProgram(process.execPath, ["sdk-walk.mjs"], { AOS_URL: url, AOS_API_KEY: key }, consumer);
    expect(walk.stdout).toContain("proof bundle: VERIFIED");
    expect(walk.code).toBe(0);
  });

  it("exports the SDK at aos-platform/client and at the package root, with its types", async () => {
    const script = [
      `import { AosClient, AosError, verifyProofBundle } from "${NAME}/client";`,
      `import * as root from "${NAME}";`,
      `const client = new AosClient({ baseUrl: "http://127.0.0.1:9", apiKey: "aos_example" });`,
      `console.log(JSON.stringify({ client: client instanceof AosClient, error: typeof AosError, verify: typeof verifyProofBundle, root: root.AosClient === AosClient }));`,
    ].join("\n");
    writeFileSync(join(consumer, "import-check.mjs"), script);
    const result = await runProgram(process.execPath, ["import-check.mjs"], {}, consumer);
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ client: true, error: "function", verify: "function", root: true });

    // A TypeScript user's project: the types come with the package (next to dist/), found through its "exports".
    writeFileSync(join(consumer, "types-check.ts"), [
      `import { AosClient, type BundleVerdict, verifyProofBundle } from "${NAME}/client";`,
      `export const client: AosClient = new AosClient({ baseUrl: "http://127.0.0.1:9" });`,
      `export const verdict: BundleVerdict = verifyProofBundle({}, []);`,
    ].join("\n"));
    const types = { types: ["node"], typeRoots: [join(ROOT, "node_modules/@types")] };
    const options = { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, ...types };
    writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify({ compilerOptions: options, files: ["types-check.ts"] }));
    const tsc = await runProgram(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", consumer], {}, consumer);
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.code).toBe(0);
  });
});

async function listeningUrl(server: CliChild): Promise<string> {
  for (;;) {
    const found = /listening on (http:\/\/[\d.]+:\d+)/.exec(server.output.stdout + server.output.stderr)?.[1];
    if (found !== undefined) return found;
    if (server.child.exitCode !== null) throw new Error(`aos serve exited: ${server.output.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
