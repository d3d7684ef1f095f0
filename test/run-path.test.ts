import { afterAll, beforeAll, expect, it } from "vitest";
import { claimRunById } from "../src/db/queries/run-status.js";
import { createAgent } from "../src/services/agents.js";
import { createRun, getRun, getRunDetail, listTenantRuns } from "../src/services/runs.js";
import { AppError } from "../src/errors.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { chainProblems, runnerDeps, runToEnd, testConfig, UNPLANNABLE_GOAL } from "./support/harness.js";
import { type LoopbackServer, sendJson, startLoopbackServer } from "./support/http-server.js";

const config = testConfig();
/** The same home and keys, with loopback opened in the egress floor by the operator, as the local server needs. */
const loopbackOpen = testConfig({ AOS_HOME: config.home, AOS_EGRESS_ALLOW: "127.0.0.1" });

const transform = (stepId: string, payload: unknown, mapping: Record<string, string>) => ({
  step_id: stepId,
  skill: "json_transform",
  params: { payload, mapping },
});

describeOnBackends("run path on $name", (backend) => {
  let db: TestDatabase;
  let server: LoopbackServer;

  beforeAll(async () => {
    db = await backend.open();
    server = await startLoopbackServer((req, res) => {
      if (req.url === "/zen") return sendJson(res, 200, { zen: "Keep it logically awesome.", n: 7 });
      sendJson(res, 404, { error: "no such page" });
    });
  });
  afterAll(async () => {
    await server?.close();
    await db?.close();
  });

  it("stores the plan and trace header before execution, and answers the seed's SQL checks after it", async () => {
    const run = await createRun(runnerDeps(db, config), {
      tenantId: "tenant-seed",
      goal: "transform a payload",
      originSystemId: "seed-check",
      plan: { steps: [transform("s1", { a: { b: 1 } }, { out: "a.b" })] },
    });
    const before = await db.pool.query(
      `SELECT id, tenant_id, origin_system_id, status, plan_json IS NOT NULL AS has_plan FROM runs WHERE id = '${run.id}';`,
    );
    expect(before.rows).toEqual([
      { id: run.id, tenant_id: "tenant-seed", origin_system_id: "seed-check", status: "queued", has_plan: true },
    ]);

    const claimed = await claimRunById(db.pool, run.id, "seed-worker", 30_000);
    expect(claimed?.attempts).toBe(1);
    await executeClaimedRun(runnerDeps(db, config), claimed!);

    const runs = await db.pool.query(
      `SELECT id, tenant_id, origin_system_id, status, plan_json IS NOT NULL AS has_plan FROM runs WHERE id = '${run.id}';`,
    );
    expect(runs.rows[0]).toMatchObject({ tenant_id: "tenant-seed", origin_system_id: "seed-check", status: "succeeded", has_plan: true });
    const traces = await db.pool.query(`SELECT run_id, tenant_id, started_at, status FROM aos_traces WHERE run_id = '${run.id}';`);
    expect(traces.rows).toHaveLength(1);
    expect(traces.rows[0]).toMatchObject({ run_id: run.id, tenant_id: "tenant-seed", status: "completed" });
    expect(traces.rows[0].started_at).toBeInstanceOf(Date);
    const steps = await db.pool.query(`SELECT COUNT(*) AS step_count FROM aos_trace_steps WHERE trace_id = 'trace_${run.id}';`);
    expect(Number(steps.rows[0].step_count)).toBe(1);

    const detail = await getRunDetail(db, config, "tenant-seed", run.id);
    expect(detail.run.attempts).toBe(1);
    expect(detail.trace?.completedAt).toBeInstanceOf(Date);
    expect(detail.run.durationMs).toBeGreaterThanOrEqual(0);
    expect(detail.steps[0]?.outcomeData).toEqual({ out: 1 });
    expect(chainProblems(detail)).toEqual([]);
    // The chain head covers the step and, after it, the run-end leaf: one step, two leaves.
    expect(detail.trace?.treeSize).toBe(2);
    expect(detail.trace?.rootHash).toBe(detail.proof?.verdict.rootHash);
    expect(detail.trace?.rootHash).not.toBe(detail.steps[0]?.chainHash);
  });

  it("interpolates an http_call response on loopback into the next step, keeping types", async () => {
    const agent = await createAgent(db, { tenantId: "tenant-http", name: "fetcher", allowedHosts: [server.host] });
    const detail = await runToEnd(db, loopbackOpen, {
      tenantId: "tenant-http",
      agentId: agent.id,
      goal: "fetch and reshape",
      plan: {
        steps: [
          { step_id: "fetch", skill: "http_call", params: { url: `${server.url}/zen` } },
          transform("shape", { n: "{{fetch.body.n}}", text: "zen says: {{fetch.body.zen}}" }, { count: "n", line: "text" }),
        ],
      },
    });
    expect(detail.run.status).toBe("succeeded");
    expect(detail.steps.map((step) => step.status)).toEqual(["started", "succeeded", "succeeded"]);
    expect(detail.steps[2]?.outcomeData).toEqual({ count: 7, line: "zen says: Keep it logically awesome." });
    expect(server.requests.at(-1)?.headers["idempotency-key"]).toBe(`${detail.run.id}:0`);
    expect(chainProblems(detail)).toEqual([]);
  });

  it("blocks http_call to loopback when the operator has not opened it in the egress floor", async () => {
    const detail = await runToEnd(db, config, {
      tenantId: "tenant-ssrf",
      goal: `fetch ${server.url}/zen`,
    });
    expect(detail.run.status).toBe("halted");
    expect(detail.steps).toHaveLength(1);
    expect(detail.steps[0]).toMatchObject({ status: "blocked", outcomeCode: "POLICY_VIOLATION" });
    expect(detail.run.errorMessage).toMatch(/^Policy violation: ssrf_guard: .*127\.0\.0\.1/);
    expect(detail.trace?.status).toBe("aborted");
  });

  it("aborts on a failing step: the run fails, the trace fails, later steps never run", async () => {
    const detail = await runToEnd(db, config, {
      tenantId: "tenant-abort",
      goal: "fail early",
      plan: {
        steps: [
          { step_id: "boom", skill: "fail_trigger", params: { retryable: false, message: "kaboom" } },
          transform("never", { a: 1 }, { a: "a" }),
        ],
      },
    });
    expect(detail.run.status).toBe("failed");
    expect(detail.run.errorMessage).toBe("step_failed:boom:kaboom");
    expect(detail.trace?.status).toBe("failed");
    expect(detail.steps.map((step) => [step.stepId, step.status])).toEqual([["boom", "failed"]]);
    expect(chainProblems(detail)).toEqual([]);
  });

  it("continues past a failing step with on_error continue, and the run succeeds", async () => {
    const detail = await runToEnd(db, config, {
      tenantId: "tenant-continue",
      goal: "fail then carry on",
      plan: {
        steps: [
          { step_id: "boom", skill: "fail_trigger", params: { retryable: false }, on_error: "continue" },
          transform("after", { status: "{{boom.status}}" }, { saw: "status" }),
        ],
      },
    });
    expect(detail.run.status).toBe("succeeded");
    expect(detail.steps.map((step) => step.status)).toEqual(["failed", "succeeded"]);
    expect(detail.steps[1]?.outcomeData).toEqual({ saw: "failed" });
    expect(detail.trace?.status).toBe("completed");
  });

  it("retries a retryable failure, then succeeds: two rows, nothing overwritten", async () => {
    const detail = await runToEnd(db, config, {
      tenantId: "tenant-retry",
      goal: "flaky",
      plan: { steps: [{ step_id: "flaky", skill: "fail_trigger", params: { fail_times: 1 }, retry_count: 2 }] },
    });
    expect(detail.run.status).toBe("succeeded");
    expect(detail.steps.map((step) => [step.seq, step.attempt, step.status])).toEqual([
      [0, 1, "failed"],
      [1, 2, "succeeded"],
    ]);
    expect(detail.steps[0]?.error?.retryable).toBe(true);
    expect(chainProblems(detail)).toEqual([]);
  });

  it("stops retrying when attempts run out, and never retries a non-retryable error", async () => {
    const exhausted = await runToEnd(db, config, {
      tenantId: "tenant-retry",
      goal: "always failing",
      plan: { steps: [{ step_id: "flaky", skill: "fail_trigger", params: {}, retry_count: 2 }] },
    });
    expect(exhausted.steps.map((step) => step.attempt)).toEqual([1, 2, 3]);
    expect(exhausted.run.status).toBe("failed");
    const permanent = await runToEnd(db, config, {
      tenantId: "tenant-retry",
      goal: "permanent failure",
      plan: { steps: [{ step_id: "p", skill: "fail_trigger", params: { retryable: false }, retry_count: 5 }] },
    });
    expect(permanent.steps).toHaveLength(1);
  });

  it("refuses an explicit plan with an unknown skill and invalid params, listing every issue and recording no run", async () => {
    const attempt = createRun(runnerDeps(db, config), {
      tenantId: "tenant-invalid",
      goal: "bad plan",
      plan: {
        steps: [
          { step_id: "a", skill: "no_such_skill", params: {} },
          { step_id: "b", skill: "http_call", params: { url: "ftp://example.com", method: "FETCH" } },
          { step_id: "b", skill: "json_transform", params: { payload: {}, mapping: { x: "{{zzz.y}}" } } },
        ],
      },
    });
    const error = await attempt.catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(AppError);
    const { code, message, details } = error as AppError;
    expect(code).toBe("PLAN_INVALID");
    expect(message).toMatch(/^the plan does not validate \(\d+ issues; nothing was created\): /);
    const issueCodes = (details?.issues as { code: string; path: string }[]).map((issue) => `${issue.code}@${issue.path}`);
    expect(issueCodes).toEqual(
      expect.arrayContaining([
        "UNKNOWN_SKILL@steps[0].skill",
        "INVALID_PARAMS@steps[1].params.url",
        "INVALID_PARAMS@steps[1].params.method",
        "DUPLICATE_STEP_ID@steps[2].step_id",
      ]),
    );
    expect(details?.run_id).toBeUndefined();
    const runs = await db.pool.query("select count(*)::int as n from runs where tenant_id = $1", ["tenant-invalid"]);
    expect(runs.rows[0].n).toBe(0);
  });

  it("records a planner's plan that does not validate as a failed run that is never claimable", async () => {
    const error = (await createRun(runnerDeps(db, config), { tenantId: "tenant-unplannable", goal: UNPLANNABLE_GOAL }).catch((thrown: unknown) => thrown)) as AppError;
    expect(error.code).toBe("PLAN_INVALID");
    expect(error.message).toMatch(/^plan_generation_failed: steps\[0\]\.params\.url: /);
    const runId = error.details?.run_id as string;
    const run = await getRun(db, "tenant-unplannable", runId);
    expect(run.status).toBe("failed");
    expect(run.plan).toBeNull();
    expect(run.errorMessage).toBe(error.message);
    expect(await claimRunById(db.pool, runId, "w", 1000)).toBeUndefined();
    const traces = await db.pool.query("select count(*)::int as n from aos_traces where run_id = $1", [runId]);
    expect(traces.rows[0].n).toBe(0);
  });

  it("rejects too many steps, cycles and references to unknown steps", async () => {
    const many = { steps: Array.from({ length: 26 }, (_, i) => transform(`s${i}`, {}, {})) };
    await expect(createRun(runnerDeps(db, config), { tenantId: "t-lim", goal: "g", plan: many })).rejects.toThrow(/TOO_MANY_STEPS/);
    const cyclic = {
      steps: [
        { ...transform("a", {}, {}), depends_on: ["b"] },
        { ...transform("b", {}, {}), depends_on: ["a"] },
        { ...transform("c", {}, {}), depends_on: ["nope"] },
      ],
    };
    await expect(createRun(runnerDeps(db, config), { tenantId: "t-lim", goal: "g", plan: cyclic })).rejects.toThrow(
      /CIRCULAR_DEPENDENCY.*UNKNOWN_DEPENDENCY|UNKNOWN_DEPENDENCY.*CIRCULAR_DEPENDENCY/,
    );
  });

  it("scopes runs and agents to their tenant", async () => {
    const detail = await runToEnd(db, config, { tenantId: "tenant-a", goal: "mine", plan: { steps: [transform("s", {}, {})] } });
    await expect(getRun(db, "tenant-b", detail.run.id)).rejects.toThrow(`Run not found: ${detail.run.id}`);
    expect(await listTenantRuns(db, "tenant-b")).toEqual([]);
    expect((await listTenantRuns(db, "tenant-a")).map((run) => run.id)).toContain(detail.run.id);
    await expect(
      createRun(runnerDeps(db, config), { tenantId: "tenant-b", agentId: detail.run.agentId, goal: "steal", plan: { steps: [transform("s", {}, {})] } }),
    ).rejects.toThrow(`Agent not found: ${detail.run.agentId}`);
    await expect(createRun(runnerDeps(db, config), { tenantId: " ", goal: "g" })).rejects.toThrow(/tenant is required/);
  });

  it("refuses to change or delete recorded trace steps and trace content", async () => {
    const detail = await runToEnd(db, config, { tenantId: "tenant-imm", goal: "g", plan: { steps: [transform("s", { a: 1 }, { a: "a" })] } });
    const traceId = detail.trace?.traceId;
    await expect(db.pool.query("update aos_trace_steps set status = 'failed' where trace_id = $1", [traceId])).rejects.toThrow(
      /S6_IMMUTABILITY_VIOLATION/,
    );
    await expect(db.pool.query("delete from aos_trace_steps where trace_id = $1", [traceId])).rejects.toThrow(/S6_IMMUTABILITY_VIOLATION/);
    await expect(db.pool.query("update aos_traces set tenant_id = 'other' where trace_id = $1", [traceId])).rejects.toThrow(
      /S6_IMMUTABILITY_VIOLATION/,
    );
    await expect(db.pool.query("update aos_traces set root_hash = repeat('0', 64) where trace_id = $1", [traceId])).rejects.toThrow(
      /written once/,
    );
    await db.pool.query("update aos_traces set metadata = metadata || '{\"note\": 1}' where trace_id = $1", [traceId]);
    await expect(db.pool.query("update aos_checkpoints set tree_size = 0 where trace_id = $1", [traceId])).rejects.toThrow(/insert-only/);
    await expect(db.pool.query("delete from aos_checkpoints where trace_id = $1", [traceId])).rejects.toThrow(/insert-only/);
  });

  it("fences a worker whose epoch moved on: it records nothing more", async () => {
    const run = await createRun(runnerDeps(db, config), { tenantId: "tenant-fence", goal: "g", plan: { steps: [transform("s", {}, {})] } });
    const claimed = await claimRunById(db.pool, run.id, "slow-worker", 30_000);
    // Another claim bumps the epoch, as a reclaim after an expired lease would.
    await db.pool.query("update runs set epoch = epoch + 1 where id = $1", [run.id]);
    await expect(executeClaimedRun(runnerDeps(db, config), claimed!)).rejects.toMatchObject({ code: "LEASE_LOST" });
    const detail = await getRunDetail(db, config, "tenant-fence", run.id);
    expect(detail.steps).toEqual([]);
    expect(detail.run.status).toBe("running");
  });
});
