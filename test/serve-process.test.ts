import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AosClient } from "../src/client/index.js";
import { runCli, tempHome } from "./support/cli.js";
import { onServer, serverBackend } from "./support/databases.js";

// The README's API walk as a user runs it: `aos api-keys create`, `aos serve` (a real child process on a free
// port), and examples/sdk-walk.mjs importing "aos-platform/client" from the built package. On the embedded default,
// and on the PostgreSQL server with the worker in its own process.

const BIN = new URL("../bin/aos.js", import.meta.url).pathname;
const EXAMPLE = new URL("../examples/sdk-walk.mjs", import.meta.url).pathname;
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  }
});

function start(args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

async function listeningUrl(server: { child: ChildProcess; output: () => string }): Promise<string> {
  for (;;) {
    const found = /listening on (http:\/\/[\d.]+:\d+)/.exec(server.output())?.[1];
    if (found !== undefined) return found;
    if (server.child.exitCode !== null) throw new Error(`aos serve exited: ${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function runExample(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EXAMPLE], { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

async function walk(env: Record<string, string>, serveArgs: string[]): Promise<string> {
  const created = await runCli(["api-keys", "create", "--tenant-id", "demo", "--name", "walk", "--json"], env);
  expect(created.code).toBe(0);
  const { key } = JSON.parse(created.stdout) as { key: string };
  const server = start(["serve", "--port", "0", "-q", ...serveArgs], env);
  const url = await listeningUrl(server);
  const result = await runExample({ AOS_URL: url, AOS_API_KEY: key });
  expect(result.output).toContain("proof bundle: VERIFIED");
  expect(result.code).toBe(0);
  server.child.kill("SIGTERM");
  const [code] = await once(server.child, "exit");
  expect(code).toBe(0);
  return result.output;
}

describe("aos serve and the SDK walk, as processes", () => {
  // Child processes, each starting PGlite: slow on a loaded machine, hence the longer timeouts.
  it("on the embedded database (PGlite in a worker thread, the worker in the serving process)", { timeout: 300_000 }, async () => {
    const output = await walk({ AOS_HOME: tempHome() }, []);
    expect(output).toMatch(/step note llm_invoke succeeded/);
  });

  it("under a policy requiring approval, stops at pending_approval saying how to approve, instead of waiting", { timeout: 300_000 }, async () => {
    const env = { AOS_HOME: tempHome() };
    const policy = join(env.AOS_HOME, "approval.json");
    writeFileSync(policy, JSON.stringify({ require_approval: ["llm_invoke"] }));
    expect((await runCli(["policy", "set", "--tenant-id", "demo", "--file", policy], env)).code).toBe(0);
    const created = await runCli(["api-keys", "create", "--tenant-id", "demo", "--name", "walk", "--json"], env);
    const { key } = JSON.parse(created.stdout) as { key: string };
    const server = start(["serve", "--port", "0", "-q"], env);
    const url = await listeningUrl(server);
    const result = await runExample({ AOS_URL: url, AOS_API_KEY: key });
    expect(result.code).toBe(3);
    expect(result.output).toMatch(/step note llm_invoke blocked: skill "llm_invoke" requires approval/);
    const runId = /run (\S+) waits for approval/.exec(result.output)?.[1] as string;
    expect(result.output).toContain(`client.approveRun("${runId}", "NAME")`);
    expect(result.output).toContain(`npx aos approve ${runId} --tenant-id demo --by NAME`);
    // The way it says works: approved through the API, the run ends succeeded.
    const client = new AosClient({ baseUrl: url, apiKey: key });
    await client.approveRun(runId, "walker");
    expect((await client.waitForRun(runId, { timeoutMs: 600_000 })).status).toBe("succeeded");
  });

  it("on the PostgreSQL server, with the worker in its own process", onServer(), async () => {
    const db = await (serverBackend() as NonNullable<ReturnType<typeof serverBackend>>).open();
    try {
      const env = { AOS_HOME: tempHome(), DATABASE_URL: db.url as string, AOS_WORKER_POLL_MS: "50" };
      start(["worker", "-q"], env);
      await walk(env, ["--no-worker"]);
    } finally {
      await db.close();
    }
  });
});
