import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliChild, runCli, spawnCli, tempHome, writePlan } from "./support/cli.js";
import { type LoopbackServer, sendJson, startLoopbackServer } from "./support/http-server.js";
import { waitFor } from "./support/worker-process.js";

/**
 * `aos` processes from several shells on one AOS_HOME (the embedded database): while one process holds the
 * database (a long `aos run`, or `aos serve`), every other verb works through it, and killing any of them loses
 * nothing. The long run is held by a loopback server that answers its http_call only when the test says so.
 */

/** Holds every POST to /hold/<name> until `release(name)`. */
interface HoldingServer extends LoopbackServer {
  held(name: string): boolean;
  release(name: string): void;
}

async function startHoldingServer(): Promise<HoldingServer> {
  const waiting = new Map<string, ServerResponse[]>();
  const released = new Set<string>();
  const server = await startLoopbackServer((req, res) => {
    const name = (req.url ?? "").replace(/^\/hold\//, "");
    if (released.has(name)) return sendJson(res, 200, { released: name });
    waiting.set(name, [...(waiting.get(name) ?? []), res]);
  });
  return {
    ...server,
    held: (name) => (waiting.get(name)?.length ?? 0) > 0,
    release(name) {
      released.add(name);
      for (const res of waiting.get(name) ?? []) sendJson(res, 200, { released: name });
      waiting.delete(name);
    },
  };
}

const TENANT = "shells";

describe("several `aos` processes on one embedded database", () => {
  const home = tempHome();
  const env = { AOS_HOME: home, AOS_EGRESS_ALLOW: "127.0.0.1" };
  let server: HoldingServer;

  const heldPlan = (name: string) =>
    writePlan(home, {
      steps: [
        { step_id: "wait", skill: "http_call", params: { url: `${server.url}/hold/${name}`, method: "POST", body: { name } } },
        { step_id: "after", skill: "json_transform", params: { payload: { name }, mapping: { name: "name" } } },
      ],
    }, `${name}.json`);
  const quickPlan = writePlan(home, { steps: [{ step_id: "t", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }] }, "quick.json");
  const policy = writePlan(home, { allowed_skills: ["http_call", "json_transform"] }, "policy.json");

  beforeAll(async () => {
    server = await startHoldingServer();
    // Created once, so the database exists (migrated) and knows the tenant before the processes under test start.
    expect((await runCli(["api-keys", "create", "--tenant-id", TENANT, "--name", "set-up"], env)).code).toBe(0);
  });
  afterAll(async () => {
    await server?.close();
  });

  async function json(args: string[]): Promise<Record<string, unknown> & { [key: string]: any }> {
    const result = await runCli([...args, "--json"], env);
    expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout);
  }

  async function runIdWaitingOn(name: string): Promise<string> {
    await waitFor(`the run's http_call to /hold/${name} is held`, async () => server.held(name));
    const runs = (await json(["list-runs", "--tenant-id", TENANT])) as unknown as { run_id: string; goal: string }[];
    const run = runs.find((candidate) => candidate.goal === `hold ${name}`);
    expect(run, JSON.stringify(runs)).toBeDefined();
    return run!.run_id;
  }

  /** Every verb of the acceptance, from another shell, while `holder` holds the database. */
  async function everyVerbWorksBeside(holder: CliChild, heldRunId: string, label: string): Promise<void> {
    const shown = await json(["get-run", heldRunId, "--tenant-id", TENANT]);
    expect(shown.status).toBe("running");
    const set = await runCli(["policy", "set", "--tenant-id", `${TENANT}-${label}`, "--file", policy, "--json"], env);
    expect(set.code, set.stderr).toBe(0);
    const key = await json(["api-keys", "create", "--tenant-id", TENANT, "--name", `shell ${label}`]);
    expect(JSON.stringify(key)).toMatch(/aos_/);
    const second = await json(["run", "--tenant-id", TENANT, "--goal", `second ${label}`, "--plan", quickPlan]);
    expect(second.status).toBe("succeeded");
    const proof = await json(["proof", second.run_id, "--tenant-id", TENANT]);
    expect(proof.verification_status).toBe("VERIFIED");
    expect(holder.child.exitCode).toBeNull();
  }

  it("a long `aos run` holds it: get-run --watch follows it; list-runs, get-run, policy set, api-keys create, a second run and its proof work beside it", { timeout: 600_000 }, async () => {
    const holder = spawnCli(["run", "--tenant-id", TENANT, "--goal", "hold long", "--plan", heldPlan("long"), "--json"], env);
    const runId = await runIdWaitingOn("long");
    // Followed from another shell while the holder executes it: the step that is waiting shows as started.
    const watcher = spawnCli(["get-run", runId, "--tenant-id", TENANT, "--watch"], env);
    await waitFor("the watcher shows the held step as started", async () => /wait {2}http_call {2}started/.test(watcher.output.stdout) || watcher.child.exitCode !== null);
    await everyVerbWorksBeside(holder, runId, "run");
    server.release("long");
    expect(await holder.exited, holder.output.stderr).toBe(0);
    expect(await watcher.exited, watcher.output.stderr).toBe(0);
    expect(watcher.output.stdout).toMatch(/wait {2}http_call {2}started[\s\S]*wait {2}http_call {2}succeeded[\s\S]*after {2}json_transform {2}succeeded[\s\S]*run succeeded/);
    expect(JSON.parse(holder.output.stdout).status).toBe("succeeded");
    expect((await json(["proof", runId, "--tenant-id", TENANT])).verification_status).toBe("VERIFIED");
  });

  it("`aos serve` holds it: the same verbs work beside it", { timeout: 600_000 }, async () => {
    const serve = spawnCli(["serve", "--port", "0", "--quiet"], env);
    await waitFor("serve listens", async () => serve.output.stdout.includes("AOS API listening") || serve.child.exitCode !== null);
    expect(serve.child.exitCode, serve.output.stderr).toBeNull();
    const holder = spawnCli(["run", "--tenant-id", TENANT, "--goal", "hold serve", "--plan", heldPlan("serve"), "--json"], env);
    const runId = await runIdWaitingOn("serve");
    await everyVerbWorksBeside(serve, runId, "serve");
    server.release("serve");
    expect(await holder.exited, holder.output.stderr).toBe(0);
    serve.child.kill("SIGTERM");
    expect(await serve.exited, serve.output.stderr).toBe(0);
    expect((await json(["proof", runId, "--tenant-id", TENANT])).verification_status).toBe("VERIFIED");
  });

  it("the owner exits normally while another process is mid-run: that run goes on and ends VERIFIED", { timeout: 600_000 }, async () => {
    const owner = spawnCli(["run", "--tenant-id", TENANT, "--goal", "hold first", "--plan", heldPlan("first"), "--json"], env);
    await runIdWaitingOn("first");
    const remote = spawnCli(["run", "--tenant-id", TENANT, "--goal", "hold second", "--plan", heldPlan("second"), "--json"], env);
    const remoteRunId = await runIdWaitingOn("second");
    server.release("first");
    expect(await owner.exited, owner.output.stderr).toBe(0);
    server.release("second");
    expect(await remote.exited, remote.output.stderr).toBe(0);
    expect(JSON.parse(remote.output.stdout).status).toBe("succeeded");
    expect((await json(["proof", remoteRunId, "--tenant-id", TENANT])).verification_status).toBe("VERIFIED");
  });

  it("the owner is SIGKILLed while another process is mid-run: that process takes over, its run ends VERIFIED, nothing is lost", { timeout: 600_000 }, async () => {
    const owner = spawnCli(["run", "--tenant-id", TENANT, "--goal", "hold killed", "--plan", heldPlan("killed"), "--json"], env);
    const ownerRunId = await runIdWaitingOn("killed");
    const remote = spawnCli(["run", "--tenant-id", TENANT, "--goal", "hold survivor", "--plan", heldPlan("survivor"), "--json"], env);
    const remoteRunId = await runIdWaitingOn("survivor");
    const before = (await json(["list-runs", "--tenant-id", TENANT])) as unknown as unknown[];
    owner.child.kill("SIGKILL");
    await owner.exited;
    server.release("survivor");
    expect(await remote.exited, remote.output.stderr).toBe(0);
    expect(JSON.parse(remote.output.stdout).status).toBe("succeeded");
    expect((await json(["proof", remoteRunId, "--tenant-id", TENANT])).verification_status).toBe("VERIFIED");
    // The killed owner's run is still there, running under a lease that a worker reclaims once it lapses.
    const after = (await json(["list-runs", "--tenant-id", TENANT])) as unknown as { run_id: string }[];
    expect(after.length).toBe(before.length);
    expect((await json(["get-run", ownerRunId, "--tenant-id", TENANT])).status).toBe("running");
  });
});
