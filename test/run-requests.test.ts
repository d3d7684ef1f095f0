import { afterAll, beforeAll, expect, it } from "vitest";
import { tenantScoped } from "../src/db/tenant-scope.js";
import { type CreateRunInput, createRun } from "../src/services/runs.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { testConfig, runnerDeps, UNPLANNABLE_GOAL } from "./support/harness.js";

// Idempotency-Key on run creation (run_requests, migration 0011): one key, one run, for 24 hours.

const config = testConfig();
const plan = { steps: [{ step_id: "s", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }] };

describeOnBackends("run creation with an Idempotency-Key on $name", (backend) => {
  let db: TestDatabase;
  let tenantCount = 0;
  const newTenant = () => `t-idem-${backend.name}-${++tenantCount}`;
  const runCount = async (tenantId: string) =>
    (await db.pool.query<{ n: number }>("select count(*)::int as n from runs where tenant_id = $1", [tenantId])).rows[0]?.n;

  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("returns the same run for the same key and request, and creates one run row", async () => {
    const tenantId = newTenant();
    const input: CreateRunInput = { tenantId, goal: "once", plan, idempotencyKey: "order-1" };
    const first = await createRun(runnerDeps(db, config), input);
    const again = await createRun(runnerDeps(db, config), input);
    expect(again.id).toBe(first.id);
    expect(again.status).toBe("queued");
    expect(await runCount(tenantId)).toBe(1);
    // Without a key, every request is a new run.
    await createRun(runnerDeps(db, config), { tenantId, goal: "once", plan });
    expect(await runCount(tenantId)).toBe(2);
  });

  it("makes exactly one run of 5 concurrent requests with the same key", async () => {
    const tenantId = newTenant();
    const input: CreateRunInput = { tenantId, goal: "at once", plan, idempotencyKey: "burst" };
    const runs = await Promise.all(Array.from({ length: 5 }, () => createRun(runnerDeps(db, config), input)));
    expect(new Set(runs.map((run) => run.id)).size).toBe(1);
    expect(await runCount(tenantId)).toBe(1);
  });

  it("refuses the key for a different request, and lets another tenant use the same key", async () => {
    const tenantId = newTenant();
    const first = await createRun(runnerDeps(db, config), { tenantId, goal: "first body", plan, idempotencyKey: "k" });
    await expect(createRun(runnerDeps(db, config), { tenantId, goal: "second body", plan, idempotencyKey: "k" })).rejects.toMatchObject({
      code: "IDEMPOTENCY_KEY_MISMATCH",
      httpStatus: 422,
      message: expect.stringContaining(`for a different request (run ${first.id})`),
    });
    // The API passes its own hash of the request: the same key with another hash is another request.
    await expect(createRun(runnerDeps(db, config), { tenantId, goal: "first body", plan, idempotencyKey: "k", requestHash: "a".repeat(64) })).rejects.toMatchObject({
      code: "IDEMPOTENCY_KEY_MISMATCH",
    });
    const other = newTenant();
    const theirs = await createRun(runnerDeps(db, config), { tenantId: other, goal: "first body", plan, idempotencyKey: "k" });
    expect(theirs.id).not.toBe(first.id);
    expect(await runCount(tenantId)).toBe(1);
  });

  it("replaces a record older than 24 hours with a new run", async () => {
    const tenantId = newTenant();
    const input: CreateRunInput = { tenantId, goal: "daily", plan, idempotencyKey: "day-key" };
    const first = await createRun(runnerDeps(db, config), input);
    await db.pool.query("update run_requests set created_at = now() - interval '25 hours' where tenant_id = $1", [tenantId]);
    const next = await createRun(runnerDeps(db, config), input);
    expect(next.id).not.toBe(first.id);
    expect(await createRun(runnerDeps(db, config), input)).toMatchObject({ id: next.id });
    const { rows } = await db.pool.query("select run_id from run_requests where tenant_id = $1", [tenantId]);
    expect(rows).toEqual([{ run_id: next.id }]);
  });

  it("does not let a run whose planning failed hold the key, so a retry plans again", async () => {
    const tenantId = newTenant();
    const input: CreateRunInput = { tenantId, goal: UNPLANNABLE_GOAL, idempotencyKey: "retry-me" };
    await expect(createRun(runnerDeps(db, config), input)).rejects.toMatchObject({ code: "PLAN_INVALID" });
    await expect(createRun(runnerDeps(db, config), input)).rejects.toMatchObject({ code: "PLAN_INVALID" });
    const { rows } = await db.pool.query("select count(*)::int as n from run_requests where tenant_id = $1", [tenantId]);
    expect(rows[0]).toEqual({ n: 0 });
    expect(await runCount(tenantId)).toBe(2);
  });

  it("validates the key and the hash, and works through the tenant-scoped database the API uses", async () => {
    const tenantId = newTenant();
    await expect(createRun(runnerDeps(db, config), { tenantId, goal: "g", plan, idempotencyKey: "" })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    await expect(createRun(runnerDeps(db, config), { tenantId, goal: "g", plan, idempotencyKey: "x".repeat(256) })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    await expect(createRun(runnerDeps(db, config), { tenantId, goal: "g", plan, idempotencyKey: "k", requestHash: "nothex" })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    const scoped = tenantScoped(db, tenantId);
    const input: CreateRunInput = { tenantId, goal: "via api", plan, idempotencyKey: "api-1", requestHash: "b".repeat(64) };
    const runs = await Promise.all(Array.from({ length: 3 }, () => createRun(runnerDeps(scoped, config), input)));
    expect(new Set(runs.map((run) => run.id)).size).toBe(1);
    expect(await runCount(tenantId)).toBe(1);
  });
});
