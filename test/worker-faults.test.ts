import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimRunById, requeueExpiredLeases } from "../src/db/queries/run-status.js";
import type { Logger } from "../src/logger.js";
import { getRunProof } from "../src/services/proofs.js";
import { createRun, getRunDetail } from "../src/services/runs.js";
import { executeThroughFaults } from "../src/worker/database-faults.js";
import { LeaseKeeper } from "../src/worker/lease-keeper.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { describeOnBackends, onServer, serverBackend, type TestDatabase } from "./support/databases.js";
import { runnerDeps, testConfig } from "./support/harness.js";

const config = testConfig();
const transform = (stepId: string) => ({ step_id: stepId, skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } });

/** A logger that keeps its warnings, to check what a worker said. */
function recordingLogger(): Logger & { warnings: { message: string; fields: Record<string, unknown> | undefined }[] } {
  const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message, fields) => void warnings.push({ message, fields }),
    child: () => logger,
  };
  return Object.assign(logger, { warnings });
}

describeOnBackends("a worker through database faults, on $name", (backend) => {
  let db: TestDatabase;
  const tenantId = "t-faults";
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("a serialization failure while recording a step costs a moment, not an attempt or the run-level backoff", async () => {
    // The first two step rows written fail as a real serialization failure would (SQLSTATE 40001); a sequence
    // counts them, since a raising transaction rolls back anything else it wrote.
    await db.pool.query("create sequence fault_count");
    await db.pool.query(`create function fail_first_steps() returns trigger language plpgsql as $$
begin
  if nextval('fault_count') <= 2 then
    raise exception 'injected serialization failure' using errcode = '40001';
  end if;
  return new;
end $$`);
    await db.pool.query("create trigger fail_first_steps before insert on aos_trace_steps for each row execute function fail_first_steps()");
    try {
      const log = recordingLogger();
      const deps = { ...runnerDeps(db, config), log };
      const run = await createRun(deps, { tenantId, goal: "ride it out", plan: { steps: [transform("one"), transform("two")] } });
      const claimed = (await claimRunById(db.pool, run.id, "w", config.leaseMs))!;
      const end = await executeThroughFaults(deps, claimed, new AbortController().signal);
      expect(end.status).toBe("succeeded");
      const detail = await getRunDetail(db, config, tenantId, run.id);
      expect(detail.run).toMatchObject({ status: "succeeded", attempts: 1, errorMessage: null });
      expect(detail.steps.map((step) => `${step.stepId}:${step.status}`)).toEqual(["one:succeeded", "two:succeeded"]);
      expect(await getRunProof(db, config, tenantId, run.id)).toMatchObject({ verification_status: "VERIFIED" });
      expect(log.warnings.filter((warning) => warning.message.startsWith("database fault during a run"))).toHaveLength(2);
      expect(log.warnings[0]?.fields).toMatchObject({ run_id: run.id, condition: "a serialization failure (SQLSTATE 40001)" });
    } finally {
      await db.pool.query("drop trigger fail_first_steps on aos_trace_steps");
    }
  });

  it("a fault that is the run's own (not the database's) is not ridden out: it goes to the run-level retry", async () => {
    await db.pool.query(`create function refuse_steps() returns trigger language plpgsql as $$
begin
  raise exception 'a constraint of the run itself';
end $$`);
    await db.pool.query("create trigger refuse_steps before insert on aos_trace_steps for each row execute function refuse_steps()");
    try {
      const log = recordingLogger();
      const deps = { ...runnerDeps(db, config), log };
      const run = await createRun(deps, { tenantId, goal: "not transient", plan: { steps: [transform("one")] } });
      const claimed = (await claimRunById(db.pool, run.id, "w", config.leaseMs))!;
      await expect(executeThroughFaults(deps, claimed, new AbortController().signal)).rejects.toThrow(/a constraint of the run itself/);
      expect(log.warnings).toEqual([]);
    } finally {
      await db.pool.query("drop trigger refuse_steps on aos_trace_steps");
    }
  });

  it("the lease keeper does not call a run it has just ended lost; a run the reaper took back, it does", async () => {
    const log = recordingLogger();
    const keeper = new LeaseKeeper(db, "keeper", config.leaseMs, log);
    const ended = await createRun(runnerDeps(db, config), { tenantId, goal: "ends while held", plan: { steps: [transform("one")] } });
    const claimed = (await claimRunById(db.pool, ended.id, "keeper", config.leaseMs))!;
    const endedHold = keeper.hold(claimed);
    // The run ends and the renewal comes before the slot releases it: the race behind the false warnings.
    await executeClaimedRun(runnerDeps(db, config), claimed, { signal: endedHold });
    await keeper.renew();
    expect(endedHold.aborted).toBe(false);
    expect(log.warnings).toEqual([]);

    const reaped = await createRun(runnerDeps(db, config), { tenantId, goal: "reaped while held", plan: { steps: [transform("one")] } });
    const held = (await claimRunById(db.pool, reaped.id, "keeper", config.leaseMs))!;
    const reapedHold = keeper.hold(held);
    await db.pool.query("update runs set lease_expires_at = now() - interval '1 second' where id = $1", [reaped.id]);
    expect(await requeueExpiredLeases(db.pool, config.runMaxAttempts)).toContain(reaped.id);
    await keeper.renew();
    expect(reapedHold.aborted).toBe(true);
    expect(log.warnings).toEqual([expect.objectContaining({ message: "lost the lease on a run", fields: expect.objectContaining({ run_id: reaped.id }) })]);
  });
});

describe("a worker through a terminated connection, on the server", onServer(), () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await serverBackend()!.open();
  });
  afterAll(async () => db?.close());

  it("its backend terminated in the middle of recording a step: the run goes on with its claim, one attempt, verified", { timeout: 60_000 }, async () => {
    // The second step's row is written slowly (the trigger sleeps once), so the test can terminate the backend
    // while that statement runs, as an administrator or a failover would.
    await db.pool.query("create sequence slow_count");
    await db.pool.query(`create function slow_second_step() returns trigger language plpgsql as $$
begin
  if new.step_index = 1 and nextval('slow_count') = 1 then
    perform pg_sleep(30);
  end if;
  return new;
end $$`);
    await db.pool.query("create trigger slow_second_step before insert on aos_trace_steps for each row execute function slow_second_step()");
    const log = recordingLogger();
    const deps = { ...runnerDeps(db, config), log };
    const run = await createRun(deps, { tenantId: "t-terminated", goal: "survive", plan: { steps: [transform("before"), transform("cut"), transform("after")] } });
    const claimed = (await claimRunById(db.pool, run.id, "w", config.leaseMs))!;
    const executing = executeThroughFaults(deps, claimed, new AbortController().signal);
    let terminated = 0;
    while (terminated === 0) {
      const { rows } = await db.pool.query(
        "select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = current_database() and wait_event = 'PgSleep'",
      );
      terminated = rows[0].n;
      if (terminated === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await executing).status).toBe("succeeded");
    const detail = await getRunDetail(db, config, "t-terminated", run.id);
    expect(detail.run).toMatchObject({ status: "succeeded", attempts: 1, errorMessage: null });
    expect(detail.steps.map((step) => `${step.stepId}:${step.status}`)).toEqual(["before:succeeded", "cut:succeeded", "after:succeeded"]);
    expect(await getRunProof(db, config, "t-terminated", run.id)).toMatchObject({ verification_status: "VERIFIED" });
    expect(log.warnings).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^database fault during a run/), fields: expect.objectContaining({ condition: expect.stringMatching(/57P01/) }) }),
    ]);
  });
});
