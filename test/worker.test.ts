import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { findRun } from "../src/db/queries/runs.js";
import { claimRunById } from "../src/db/queries/run-status.js";
import { createAgent } from "../src/services/agents.js";
import { getRunProof } from "../src/services/proofs.js";
import { createRun } from "../src/services/runs.js";
import { runWorker } from "../src/worker/loop.js";
import { reapExpiredLeases } from "../src/worker/reaper.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { incidentId } from "../src/records/run-records.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, testConfig, traceSteps } from "./support/harness.js";
import { sendJson, startLoopbackServer } from "./support/http-server.js";

// Loopback opened in the egress floor by the operator, for the side-effect servers on 127.0.0.1.
const config = testConfig({ AOS_WORKER_POLL_MS: "20", AOS_LEASE_MS: "2000", RUN_MAX_ATTEMPTS: "3", AOS_RUN_RETRY_BASE_S: "0", AOS_EGRESS_ALLOW: "127.0.0.1" });
const transform = (stepId: string) => ({ step_id: stepId, skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } });
const slow = (stepId: string, ms: number) => ({ step_id: stepId, skill: "fail_trigger", params: { fail_times: 0, delay_ms: ms } });

async function statusOf(db: TestDatabase, runId: string) {
  const { rows } = await db.pool.query("select status, attempts, epoch, worker_id, error_message, termination_reason from runs where id = $1", [runId]);
  return rows[0];
}

async function until(condition: () => Promise<boolean>, what: string, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** Runs a worker until `done` holds, then stops it the graceful way and returns its summary. */
async function workUntil(db: TestDatabase, done: () => Promise<boolean>, concurrency = 4, workerConfig = config) {
  const stop = new AbortController();
  const worker = runWorker(runnerDeps(db, workerConfig), { id: `w-${Math.random().toString(16).slice(2, 8)}`, concurrency, signal: stop.signal });
  try {
    await until(done, "the worker is done");
  } finally {
    stop.abort();
  }
  return worker;
}

describeOnBackends("the worker on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("executes every queued run of several tenants to the end, each once, with verified proofs", async () => {
    const runs = [];
    for (let i = 0; i < 24; i++) {
      runs.push(await createRun(runnerDeps(db, config), { tenantId: `wk-${i % 3}`, goal: `g${i}`, plan: { steps: [transform("a"), transform("b")] } }));
    }
    const ids = runs.map((run) => run.id);
    const summary = await workUntil(db, async () => {
      const { rows } = await db.pool.query("select count(*)::int as n from runs where id = any($1) and status = 'succeeded'", [ids]);
      return rows[0].n === ids.length;
    });
    expect(summary.finished).toBe(24);
    const { rows } = await db.pool.query(
      `select count(*)::int as steps, count(distinct (s.trace_id, s.step_index))::int as distinct_steps, max(r.attempts) as max_attempts
       from runs r join aos_trace_steps s on s.trace_id = 'trace_' || r.id where r.id = any($1)`,
      [ids],
    );
    expect(rows[0]).toEqual({ steps: 48, distinct_steps: 48, max_attempts: 1 });
    for (const run of runs.slice(0, 5)) expect((await getRunProof(db, config, run.tenantId, run.id)).verification_status).toBe("VERIFIED");
    const { rows: workers } = await db.pool.query("select stopped_at from workers");
    expect(workers.every((worker) => worker.stopped_at !== null)).toBe(true);
  });

  it("hands runs back between steps when stopped, without burning their attempts; the next worker resumes them", async () => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await createRun(runnerDeps(db, config), { tenantId: "wk-stop", goal: "g", plan: { steps: [slow("a", 50), slow("b", 50), slow("c", 50)] } }));
    const ids = runs.map((run) => run.id);
    const summary = await workUntil(db, async () => {
      const { rows } = await db.pool.query("select count(*)::int as n from runs where id = any($1) and next_seq >= 1", [ids]);
      return rows[0].n === ids.length;
    });
    expect(summary.released).toBe(3);
    for (const id of ids) {
      const state = await statusOf(db, id);
      expect(state).toMatchObject({ status: "queued", attempts: 0, worker_id: null });
    }
    await workUntil(db, async () => (await Promise.all(ids.map((id) => statusOf(db, id)))).every((state) => state.status === "succeeded"));
    for (const run of runs) {
      const steps = await traceSteps(db, run.id);
      expect(steps.map((step) => step.stepId)).toEqual(["a", "b", "c"]);
      expect((await statusOf(db, run.id)).attempts).toBe(1);
      expect((await getRunProof(db, config, run.tenantId, run.id)).verification_status).toBe("VERIFIED");
    }
  });

  it("requeues a run whose worker vanished, and fails one that used its last attempt, finalized and verifiable", async () => {
    const lost = await createRun(runnerDeps(db, config), { tenantId: "wk-reap", goal: "g", plan: { steps: [transform("a")] } });
    const spent = await createRun(runnerDeps(db, config), { tenantId: "wk-reap", goal: "g", plan: { steps: [transform("a")] } });
    await claimRunById(db.pool, lost.id, "ghost", 60_000);
    await claimRunById(db.pool, spent.id, "ghost", 60_000);
    await db.pool.query("update runs set lease_expires_at = now() - interval '1 second' where id = any($1)", [[lost.id, spent.id]]);
    await db.pool.query("update runs set attempts = $2 where id = $1", [spent.id, config.runMaxAttempts]);
    const reaped = await reapExpiredLeases(runnerDeps(db, config), "reaper-test");
    expect(reaped).toEqual({ requeued: [lost.id], failed: [spent.id] });
    expect(await statusOf(db, lost.id)).toMatchObject({ status: "retry", worker_id: null, attempts: 1 });
    expect(await statusOf(db, spent.id)).toMatchObject({ status: "failed", termination_reason: "system_failure" });
    expect((await statusOf(db, spent.id)).error_message).toMatch(/^Run abandoned: its lease expired on attempt 3 of 3 \(RUN_MAX_ATTEMPTS\)/);
    const { rows } = await db.pool.query("select severity, error_code from incidents where source_run_id = $1", [spent.id]);
    expect(rows).toEqual([{ severity: "CRITICAL", error_code: "AGENT_CRASH" }]);
    const { rows: traces } = await db.pool.query(
      "select t.status, (select count(*)::int from aos_checkpoints c where c.run_id = t.run_id) as checkpoints from aos_traces t where t.run_id = $1",
      [spent.id],
    );
    expect(traces).toEqual([{ status: "failed", checkpoints: 1 }]);
    await workUntil(db, async () => (await statusOf(db, lost.id)).status === "succeeded");
    expect(await statusOf(db, lost.id)).toMatchObject({ attempts: 2, epoch: 2 });
  });

  it("records an attempt interrupted after its intent, and retries it with the same idempotency key", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const server = await startLoopbackServer((_req, res) => {
      if (server.requests.length === 1) void held.then(() => sendJson(res, 200, { first: true }));
      else sendJson(res, 201, { created: true });
    });
    try {
      const agent = await createAgent(db, { tenantId: "wk-intent", name: "poster", allowedHosts: [server.host] });
      const run = await createRun(runnerDeps(db, config), {
        tenantId: "wk-intent",
        agentId: agent.id,
        goal: "g",
        plan: { steps: [{ step_id: "post", skill: "http_call", params: { url: `${server.url}/orders`, method: "POST", body: { n: 1 } } }] },
      });
      const first = (await claimRunById(db.pool, run.id, "doomed", 60_000))!;
      const doomed = executeClaimedRun(runnerDeps(db, config), first);
      await until(async () => server.requests.length === 1, "the first call reached the server");
      // The worker stalls mid-call past its lease; the reaper returns the run to the queue.
      await db.pool.query("update runs set lease_expires_at = now() - interval '1 second' where id = $1", [run.id]);
      expect((await reapExpiredLeases(runnerDeps(db, config), "reaper-test")).requeued).toEqual([run.id]);
      release();
      await expect(doomed).rejects.toThrow(/no longer held/);
      const second = (await claimRunById(db.pool, run.id, "rescuer", 60_000))!;
      await executeClaimedRun(runnerDeps(db, config), second);
      const steps = await traceSteps(db, run.id);
      expect(steps.map((step) => [step.attempt, step.status])).toEqual([
        [1, "started"],
        [1, "interrupted"],
        [2, "started"],
        [2, "succeeded"],
      ]);
      expect(steps[1]?.error).toMatchObject({ code: "INTERRUPTED", retryable: true });
      expect(server.requests.map((request) => request.headers["idempotency-key"])).toEqual([`${run.id}:0`, `${run.id}:0`]);
      expect((await findRun(db.pool, "wk-intent", run.id))?.status).toBe("succeeded");
      expect((await getRunProof(db, config, "wk-intent", run.id)).verification_status).toBe("VERIFIED");
    } finally {
      release();
      await server.close();
    }
  });

  it("ends a retried run the way its trace already ended, never executing the steps after an abort", async () => {
    const failing = { step_id: "boom", skill: "fail_trigger", params: { retryable: false } };
    const run = await createRun(runnerDeps(db, config), { tenantId: "wk-ended", goal: "g", plan: { steps: [transform("a"), failing, transform("after")] } });
    const other = await createRun(runnerDeps(db, config), { tenantId: "wk-ended", goal: "other", plan: { steps: [transform("a")] } });
    await executeClaimedRun(runnerDeps(db, config), (await claimRunById(db.pool, other.id, "w", 60_000))!);
    // Its finalizing transaction fails (the incident id is taken), after the failed step was recorded.
    await db.pool.query("update incidents set id = $1 where source_run_id = $2", [incidentId(run.id), other.id]);
    await expect(executeClaimedRun(runnerDeps(db, config), (await claimRunById(db.pool, run.id, "w", 60_000))!)).rejects.toThrow();
    await db.pool.query("update incidents set id = $1 where source_run_id = $2", [incidentId(other.id), other.id]);
    await db.pool.query("update runs set status = 'retry', worker_id = null, next_attempt_at = now() where id = $1", [run.id]);
    await executeClaimedRun(runnerDeps(db, config), (await claimRunById(db.pool, run.id, "w", 60_000))!);
    const steps = await traceSteps(db, run.id);
    expect(steps.map((step) => [step.stepId, step.status])).toEqual([
      ["a", "succeeded"],
      ["boom", "failed"],
    ]);
    expect(await statusOf(db, run.id)).toMatchObject({ status: "failed", error_message: expect.stringMatching(/^step_failed:boom:/) });
    expect((await getRunProof(db, config, "wk-ended", run.id)).verification_status).toBe("VERIFIED");
  });

  it("retries a run that failed outside its steps, and records why", async () => {
    const run = await createRun(runnerDeps(db, config), { tenantId: "wk-retry", goal: "g", plan: { steps: [transform("a")] } });
    const other = await createRun(runnerDeps(db, config), { tenantId: "wk-retry", goal: "other", plan: { steps: [transform("a")] } });
    const otherClaim = (await claimRunById(db.pool, other.id, "w", 60_000))!;
    await executeClaimedRun(runnerDeps(db, config), otherClaim);
    // Occupy the incident id the run needs, so its finalizing transaction fails.
    await db.pool.query("update incidents set id = $1 where source_run_id = $2", [incidentId(run.id), other.id]);
    // The same home, so the same keys: a worker holding other keys could not check the run's attestations.
    const patient = testConfig({ AOS_HOME: config.home, AOS_WORKER_POLL_MS: "20", AOS_RUN_RETRY_BASE_S: "60" });
    await workUntil(db, async () => (await statusOf(db, run.id)).status === "retry", 1, patient);
    expect((await statusOf(db, run.id)).error_message).toMatch(/^attempt 1 failed: /);
    const { rows } = await db.pool.query("select extract(epoch from next_attempt_at - now())::int as wait_s from runs where id = $1", [run.id]);
    expect(rows[0].wait_s).toBeGreaterThan(50);
    expect(await traceSteps(db, run.id)).toHaveLength(1);
    await db.pool.query("update incidents set id = $1 where source_run_id = $2", [incidentId(other.id), other.id]);
    await db.pool.query("update runs set next_attempt_at = now() where id = $1", [run.id]);
    await workUntil(db, async () => (await statusOf(db, run.id)).status === "succeeded", 1);
    expect(await statusOf(db, run.id)).toMatchObject({ attempts: 2, error_message: null });
    expect((await getRunProof(db, config, "wk-retry", run.id)).verification_status).toBe("VERIFIED");
  });
});
