import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, runCli, spawnCli, tempHome, writePlan } from "./support/cli.js";
import { type EffectServer, startEffectServer, waitFor } from "./support/worker-process.js";

/**
 * `aos run` as a user runs it, stopped by Ctrl-C (`signals` SIGINTs) once its first step's POST is in flight at
 * the server. The signals are sent to the process itself, as a terminal sends them.
 */
async function runInterrupted(args: string[], env: Record<string, string>, server: EffectServer, signals: number): Promise<CliResult> {
  const { child, output, exited } = spawnCli(args, env);
  await waitFor("the first step's POST is in flight", async () => server.inFlight().size > 0 || child.exitCode !== null);
  for (let sent = 0; sent < signals; sent += 1) {
    child.kill("SIGINT");
    // The second Ctrl-C comes once the first was heard, as a person presses it again.
    if (sent + 1 < signals) await waitFor("the first Ctrl-C is heard", async () => output.stderr.includes("SIGINT: finishing the step in flight"));
  }
  const code = await exited;
  return { code, ...output };
}

describe("Ctrl-C on `aos run` hands the run back; a cancelled run's interrupted step is never sent again", () => {
  const home = tempHome();
  let server: EffectServer;
  let env: Record<string, string>;
  const plan = () => ({
    steps: [
      { step_id: "pay", skill: "http_call", params: { url: `${server.url}/pay`, method: "POST", body: { cents: 100 } } },
      { step_id: "after", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } },
    ],
  });

  beforeAll(async () => {
    server = await startEffectServer(1500);
    env = { AOS_HOME: home, AOS_EGRESS_ALLOW: "127.0.0.1" };
  });
  afterAll(async () => {
    await server?.close();
    rmSync(home, { recursive: true, force: true });
  });

  const statusesOf = (run: { steps: { step_index: number; status: string }[] }) => run.steps.map((step) => `${step.step_index}:${step.status}`);

  it("one Ctrl-C: the step in flight finishes and is recorded, the run goes back to the queue without its attempt; exit 130", { timeout: 120_000 }, async () => {
    const args = ["run", "--tenant-id", "ctrl-c", "--goal", "pay once", "--plan", writePlan(home, plan(), "once.json"), "--json"];
    const stopped = await runInterrupted(args, env, server, 1);
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toMatch(/SIGINT: finishing the step in flight, then handing run \S+ back to the queue/);
    const run = JSON.parse(stopped.stdout);
    expect(stopped.stderr).toContain(`run ${run.run_id} is queued: handed back to the queue; an \`aos worker\` resumes it`);
    expect(run).toMatchObject({ status: "queued", attempts: 0 });
    expect(statusesOf(run)).toEqual(["0:started", "0:succeeded"]);

    // A worker resumes it later at the next step: the POST is not sent again.
    const worker = spawnCli(["worker", "--concurrency", "1"], { ...env, AOS_WORKER_POLL_MS: "50" });
    await waitFor("the worker finishes the run", async () => worker.output.stderr.includes('"msg":"run finished"'));
    worker.child.kill("SIGTERM");
    expect(await worker.exited, worker.output.stderr).toBe(0);
    expect(server.postsWith(`${run.run_id}:0`)).toBe(1);
    expect(statusesOf(await shown(run.run_id))).toEqual(["0:started", "0:succeeded", "1:succeeded"]);
  });

  it("two Ctrl-Cs: the step in flight is stopped and the run handed back at once; cancelled, its step is never sent again", { timeout: 120_000 }, async () => {
    const args = ["run", "--tenant-id", "ctrl-c", "--goal", "pay, then stop", "--plan", writePlan(home, plan(), "twice.json"), "--json"];
    const stopped = await runInterrupted(args, env, server, 2);
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toMatch(/SIGINT: stopping the step in flight and handing run \S+ back to the queue now/);
    const run = JSON.parse(stopped.stdout);
    expect(run).toMatchObject({ status: "queued", attempts: 0 });
    expect(statusesOf(run)).toEqual(["0:started"]);

    const cancelled = await runCli(["cancel", run.run_id, "--tenant-id", "ctrl-c"], env);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const ended = await shown(run.run_id);
    expect(ended.status).toBe("cancelled");
    expect(statusesOf(ended)).toEqual(["0:started", "0:interrupted"]);
    expect(server.postsWith(`${run.run_id}:0`)).toBe(1);
    const proof = await runCli(["proof", run.run_id, "--tenant-id", "ctrl-c", "--json"], env);
    expect(JSON.parse(proof.stdout)).toMatchObject({ verification_status: "VERIFIED" });
  });

  it("killed outright (no hand-back), then cancelled: the worker that reclaims it ends it without sending the step again", { timeout: 120_000 }, async () => {
    const fast = { ...env, AOS_LEASE_MS: "1000", AOS_WORKER_POLL_MS: "50" };
    const args = ["run", "--tenant-id", "ctrl-c", "--goal", "pay, then die", "--plan", writePlan(home, plan(), "killed.json"), "--json"];
    const { child, exited } = spawnCli(args, fast);
    await waitFor("the first step's POST is in flight", async () => server.inFlight().size > 0);
    const key = [...server.inFlight()][0] as string;
    child.kill("SIGKILL");
    await exited;
    const runId = key.split(":")[0] as string;
    const requested = await runCli(["cancel", runId, "--tenant-id", "ctrl-c"], fast);
    expect(requested.code, requested.stderr).toBe(0);
    expect(requested.stdout).toContain("it will stop after its current step");

    const worker = spawnCli(["worker", "--concurrency", "1"], fast);
    await waitFor("the worker ends the reclaimed run", async () => worker.output.stderr.includes('"msg":"run finished"'));
    worker.child.kill("SIGTERM");
    expect(await worker.exited, worker.output.stderr).toBe(0);
    const ended = await shown(runId);
    expect(ended.status).toBe("cancelled");
    expect(statusesOf(ended)).toEqual(["0:started", "0:interrupted"]);
    expect(server.postsWith(key)).toBe(1);
  });

  async function shown(runId: string): Promise<{ status: string; steps: { step_index: number; status: string }[] }> {
    const result = await runCli(["get-run", runId, "--tenant-id", "ctrl-c", "--json"], env);
    return JSON.parse(result.stdout);
  }
});
