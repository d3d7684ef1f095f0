import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { claimRunById } from "../src/db/queries/run-status.js";
import { loadStoredTrace, stepOfRow, v1HeaderOf } from "../src/proof/stored-trace.js";
import { setPolicy } from "../src/services/policies.js";
import { getRunProof } from "../src/services/proofs.js";
import { approveRun, cancelRun, rejectRun } from "../src/services/run-decisions.js";
import { createRun, getRunDetail, listTenantRuns } from "../src/services/runs.js";
import { contentOf } from "../src/trace/v1/step-content.js";
import { chainGenesis, chainNext as v1ChainNext, leafHash as v1LeafHash } from "../src/trace/v1/step-hash.js";
import { isPruned, runJson, runListJson } from "../src/views/run.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";
import { PROOF_PLAN, proofRuns } from "./support/proof-runs.js";
import { asSuperuser } from "./support/tamper.js";

const config = testConfig();
const TENANT = "tenant-proof-row";

/**
 * What a database writer can do to a run's row and the decisions people make on it, beyond its trace's bytes: clone
 * it, move its times past what readers can hold, relabel its format, point a rejection or a cancel where the trace
 * says otherwise. Each is caught before a worker acts on it, or shown for what it is; none is signed.
 */
describeOnBackends("the run row and a person's decisions against a database writer, on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  const { proofOf, finishedRun, unfinishedRun, endedTampered } = proofRuns(() => db, config, TENANT);

  it("a run row cloned under a new id, its trace copied with it, is not executed again: the header names another run", async () => {
    const original = await createRun(runnerDeps(db, config), { tenantId: TENANT, goal: "pay once", plan: PROOF_PLAN });
    const clone = randomUUID();
    await asSuperuser(
      db,
      ["insert into runs select (jsonb_populate_record(null::runs, to_jsonb(r) || jsonb_build_object('id', $2::text))).* from runs r where id = $1", [original.id, clone]],
      [
        "insert into aos_traces select (jsonb_populate_record(null::aos_traces, (to_jsonb(t) - 'id') || jsonb_build_object('id', gen_random_uuid(), 'trace_id', 'trace_' || $2::text, 'run_id', $2::text))).* from aos_traces t where run_id = $1",
        [original.id, clone],
      ],
    );
    await claimAndExecute(runnerDeps(db, config), clone, "worker");
    await endedTampered(clone);
    expect((await getRunDetail(db, config, TENANT, clone)).run.errorMessage).toMatch(/the run row's id, tenant or agent is not the one its trace header records/);
    expect((await db.pool.query("select count(*)::int as n from aos_trace_steps where trace_id = $1", [`trace_${clone}`])).rows[0].n).toBe(0);
    // The original is untouched, and runs and verifies as before.
    await claimAndExecute(runnerDeps(db, config), original.id, "worker");
    expect(await proofOf(original.id)).toMatchObject({ verification_status: "VERIFIED" });
  });

  it("a row time past what JavaScript can hold is read, shown and caught, not a crash", async () => {
    const queued = await createRun(runnerDeps(db, config), { tenantId: TENANT, goal: "far future", plan: PROOF_PLAN });
    await asSuperuser(db, ["update runs set started_at = '290000-01-01T00:00:00Z', created_at = '290000-01-01T00:00:00Z' where id = $1", [queued.id]]);
    const shown = runJson(await getRunDetail(db, config, TENANT, queued.id));
    expect(shown).toMatchObject({ created_at: expect.any(String), started_at: null });
    expect((await listTenantRuns(db, TENANT)).map(runListJson).find((row) => row.run_id === queued.id)).toMatchObject({ created_at: null });
    await claimAndExecute(runnerDeps(db, config), queued.id, "worker");
    await endedTampered(queued.id);
    expect((await getRunDetail(db, config, TENANT, queued.id)).run.errorMessage).toMatch(/created_at is not the time its trace header records/);

    // A finished run's start moved there: its proof names the column, its view shows the proven time.
    const { runId } = await finishedRun();
    await asSuperuser(db, ["update runs set started_at = '290000-01-01T00:00:00Z' where id = $1", [runId]]);
    expect(await proofOf(runId)).toMatchObject({ verification_status: "TAMPERED", field: "runs.started_at" });
    expect(runJson(await getRunDetail(db, config, TENANT, runId))).toMatchObject({ started_at: expect.stringMatching(/^20\d\d-/) });
  });

  it("a rejection lands only on the row the trace says the run is parked at; a run that is not parked ends tampered", async () => {
    const tenantId = "tenant-proof-reject";
    await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
    const queued = await createRun(runnerDeps(db, config), { tenantId, goal: "never parked", plan: PROOF_PLAN });
    await asSuperuser(db, ["update runs set status = 'pending_approval' where id = $1", [queued.id]]);
    await expect(rejectRun(db, runnerDeps(db, config).keys, tenantId, queued.id, "bob", config.leaseMs)).rejects.toMatchObject({ code: "TRACE_TAMPERED" });
    expect((await getRunDetail(db, config, tenantId, queued.id)).run).toMatchObject({ status: "failed", terminationReason: "tampered" });
    expect((await db.pool.query("select count(*)::int as n from run_approvals where run_id = $1", [queued.id])).rows[0].n).toBe(0);

    // A genuine rejection of a parked run: recorded at the parked row's step, the run halted, its proof verified.
    const waits = { steps: [{ step_id: "g1", skill: "fail_trigger", params: { fail_times: 0 } }] };
    const parked = await runToEnd(db, config, { tenantId, goal: "rejected", plan: waits });
    await rejectRun(db, runnerDeps(db, config).keys, tenantId, parked.run.id, "bob", config.leaseMs);
    const rejected = await getRunDetail(db, config, tenantId, parked.run.id);
    expect(rejected.run).toMatchObject({ status: "halted", terminationReason: "policy_block" });
    expect(rejected.steps.at(-1)).toMatchObject({ stepIndex: 0, status: "blocked", decision: { action: "deny", reason: expect.stringMatching(/^rejected by bob at /) } });
    expect(await getRunProof(db, config, tenantId, parked.run.id)).toMatchObject({ verification_status: "VERIFIED" });
  });

  it("a cancel requested while a worker held the run survives that worker: the next claim ends it before any step", async () => {
    const run = await createRun(runnerDeps(db, config), { tenantId: TENANT, goal: "stop me", plan: PROOF_PLAN });
    const claimed = await claimRunById(db.pool, run.id, "doomed-worker", 30_000);
    expect(claimed?.status).toBe("running");
    expect(await cancelRun(db, runnerDeps(db, config).keys, TENANT, run.id, config.leaseMs)).toBe("requested");
    // Its worker dies before recording anything; the lease expires and the run is requeued.
    await db.pool.query("update runs set status = 'retry', worker_id = null, lease_expires_at = null, next_attempt_at = now() where id = $1", [run.id]);
    await claimAndExecute(runnerDeps(db, config), run.id, "next-worker");
    const detail = await getRunDetail(db, config, TENANT, run.id);
    expect(detail.run).toMatchObject({ status: "cancelled", terminationReason: "user_abort" });
    expect(detail.steps).toEqual([]);
    expect(await proofOf(run.id)).toMatchObject({ verification_status: "VERIFIED", run: { end: { status: "cancelled" } } });
  });

  it("an unfinished run relabelled format v1, its rows re-hashed the v1 way, is UNSUPPORTED, never INCOMPLETE", async () => {
    const { runId, traceId } = await unfinishedRun();
    const stored = (await loadStoredTrace(db.pool, TENANT, runId)) as NonNullable<Awaited<ReturnType<typeof loadStoredTrace>>>;
    const forged = stored.rows.map((row) => ({ ...row.copies, outcomeData: row.copies.seq === 0 ? { x: 999, forged: true } : row.copies.outcomeData }));
    let head = chainGenesis(v1HeaderOf(stored));
    const statements: [string, unknown[]][] = forged.map((step) => {
      const leaf = v1LeafHash(contentOf(step));
      head = v1ChainNext(head, leaf);
      return [
        "update aos_trace_steps set header_jcs = null, params_jcs = null, outcome_jcs = null, error_jcs = null, attestation = null, outcome_data = $3, leaf_hash = $4, chain_hash = $5 where trace_id = $1 and seq = $2",
        [traceId, step.seq, JSON.stringify(step.outcomeData), leaf, head],
      ];
    });
    await asSuperuser(
      db,
      ["update aos_traces set schema_version = 'aos-trace-v1', header_jcs = null, plan_jcs = null, run_end_jcs = null, attestation = null where trace_id = $1", [traceId]],
      ...statements,
      ["update runs set chain_head = $2 where id = $1", [runId, head]],
    );
    const proof = await proofOf(runId);
    expect(proof).toMatchObject({ verification_status: "UNSUPPORTED", format: "aos-trace-v1" });
    expect(proof.failure_reason).toMatch(/unfinished format v1 trace/);
  });

  it("a name that cannot be recorded is refused before a decision takes the run", async () => {
    const tenantId = "tenant-proof-names";
    await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
    const parked = await runToEnd(db, config, { tenantId, goal: "who?", plan: { steps: [{ step_id: "g", skill: "fail_trigger", params: { fail_times: 0 } }] } });
    for (const by of ["a\u0000b", "x\udc00", "bell\u0007", "n".repeat(201)]) {
      await expect(rejectRun(db, runnerDeps(db, config).keys, tenantId, parked.run.id, by, config.leaseMs)).rejects.toMatchObject({ code: "USAGE" });
      await expect(approveRun(db, runnerDeps(db, config).keys, tenantId, parked.run.id, by)).rejects.toMatchObject({ code: "USAGE" });
    }
    expect((await getRunDetail(db, config, tenantId, parked.run.id)).run).toMatchObject({ status: "pending_approval", attempts: 1 });
  });

  it("shows a step as pruned only when its bytes are gone, whatever the pruned_at column says", async () => {
    const { runId } = await finishedRun();
    const stored = (await loadStoredTrace(db.pool, TENANT, runId)) as NonNullable<Awaited<ReturnType<typeof loadStoredTrace>>>;
    const marked = stored.rows.map((row) => ({ ...row, prunedAt: new Date() }));
    expect(marked.map(stepOfRow).filter(isPruned)).toEqual([]);
    const withheld = stored.rows.map((row) => ({ ...row, prunedAt: null, bytes: row.bytes && { ...row.bytes, params: null } }));
    expect(withheld.map(stepOfRow).every(isPruned)).toBe(true);
  });
});
