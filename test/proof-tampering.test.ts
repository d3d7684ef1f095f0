import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import { claimRunById } from "../src/db/queries/runs.js";
import { createRun } from "../src/services/runs.js";
import { getRunProof, INTEGRITY_CONFIG } from "../src/services/proofs.js";
import { formatCheckpoint, signCheckpoint } from "../src/trace/checkpoint.js";
import { merkleRoot } from "../src/trace/merkle.js";
import { generateSigningKey } from "../src/trace/signed-note.js";
import { contentOf } from "../src/trace/step-content.js";
import { chainGenesis, chainNext, leafHash, planHash } from "../src/trace/step-hash.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { listTraceSteps } from "../src/db/queries/trace-steps.js";
import { testBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";

const config = testConfig();
const TENANT = "tenant-proof";

const plan = {
  steps: [
    { step_id: "a", skill: "json_transform", params: { payload: { x: 1, y: "two" }, mapping: { x: "x" } } },
    { step_id: "b", skill: "json_transform", params: { payload: { v: "{{a.x}}" }, mapping: { v: "v" } } },
    { step_id: "c", skill: "fail_trigger", params: { retryable: false }, on_error: "continue" },
  ],
};

/** Changes rows the way a database superuser could: inside a transaction with triggers and FKs switched off. */
async function tamper(db: Database, ...statements: [string, unknown[]?][]): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    for (const [sql, params] of statements) await client.query(sql, params ?? []);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

async function finishedRun(db: Database): Promise<{ runId: string; traceId: string }> {
  const detail = await runToEnd(db, config, { tenantId: TENANT, goal: "prove me", plan });
  expect(detail.run.status).toBe("succeeded");
  return { runId: detail.run.id, traceId: `trace_${detail.run.id}` };
}

describe.each(testBackends())("run proof on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  const proofOf = (runId: string, tenantId = TENANT) => getRunProof(db, config, tenantId, runId);

  it("verifies an untouched finished run from the stored rows and the signed checkpoint", async () => {
    const { runId } = await finishedRun(db);
    const proof = await proofOf(runId);
    expect(proof).toMatchObject({
      run_id: runId,
      integrity_model: "HASH_CHAIN",
      verification_status: "VERIFIED",
      chain_length: 3,
      step_count: 3,
      trace_count: 1,
      failure_reason: null,
      first_bad_seq: null,
      signature_valid: true,
    });
    expect(proof.checkpoint).toMatch(new RegExp(`^aos\\.local/run/${runId}\\n3\\n`));
    expect(proof.aos_trace_steps.map((step) => [step.seq, step.skill_name, step.status])).toEqual([
      [0, "json_transform", "succeeded"],
      [1, "json_transform", "succeeded"],
      [2, "fail_trigger", "failed"],
    ]);
  });

  it("keeps upstream's coordinator behaviours: no trace, zero steps, tenant enforced, integrity config", async () => {
    expect(await proofOf("no-such-run")).toMatchObject({ verification_status: "UNSUPPORTED", failure_reason: "No trace found for run" });
    const queued = await createRun(db, config, { tenantId: TENANT, goal: "not yet", plan });
    expect(await proofOf(queued.id)).toMatchObject({ verification_status: "UNSUPPORTED", failure_reason: "No steps to verify", trace_count: 1 });
    const { runId } = await finishedRun(db);
    const foreign = await proofOf(runId, "another-tenant");
    expect(foreign).toMatchObject({ verification_status: "UNSUPPORTED", failure_reason: "No trace found for run", trace_count: 0, aos_traces: [] });
    expect(INTEGRITY_CONFIG).toEqual({ model: "HASH_CHAIN", trust_boundary: "SYSTEM", storage: "POSTGRES" });
  });

  it("reports a run still in progress as INCOMPLETE, with its prefix checked", async () => {
    const run = await createRun(db, config, { tenantId: TENANT, goal: "interrupted", plan });
    const claimed = await claimRunById(db.pool, run.id, "w", 30_000);
    const deps = {
      ...runnerDeps(db, config),
      // Lose the lease after the first step, as a crashed worker would: one row recorded, the run still running.
      onStep: () => void db.pool.query("update runs set epoch = epoch + 1 where id = $1", [run.id]),
    };
    await expect(executeClaimedRun(deps, claimed!)).rejects.toMatchObject({ code: "LEASE_LOST" });
    const proof = await proofOf(run.id);
    expect(proof).toMatchObject({ verification_status: "INCOMPLETE", chain_length: 1, step_count: 1 });
    await tamper(db, ["update aos_trace_steps set cost_cents = 5 where trace_id = $1", [`trace_${run.id}`]]);
    expect(await proofOf(run.id)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
  });

  const fieldChanges: [string, number, string][] = [
    ["params", 1, `update aos_trace_steps set params = jsonb_set(params, '{payload,v}', '"9"') where trace_id = $1 and seq = 1`],
    ["outcome", 1, `update aos_trace_steps set outcome_data = '{"v": 2}' where trace_id = $1 and seq = 1`],
    ["status", 1, `update aos_trace_steps set status = 'failed' where trace_id = $1 and seq = 1`],
    ["cost", 1, `update aos_trace_steps set cost_cents = cost_cents + 1 where trace_id = $1 and seq = 1`],
    ["timestamps", 1, `update aos_trace_steps set started_at = started_at - interval '1 millisecond' where trace_id = $1 and seq = 1`],
    ["decision", 1, `update aos_trace_steps set decision = '{"action":"allow","reason":"x","policy_id":"p","policy_hash":"h"}' where trace_id = $1 and seq = 1`],
    ["error", 2, `update aos_trace_steps set error = jsonb_set(error, '{message}', '"all fine"') where trace_id = $1 and seq = 2`],
    ["chain hash", 2, `update aos_trace_steps set chain_hash = repeat('0', 64) where trace_id = $1 and seq = 2`],
    ["leaf hash", 0, `update aos_trace_steps set leaf_hash = repeat('0', 64) where trace_id = $1 and seq = 0`],
  ];
  it.each(fieldChanges)("catches a changed %s, at the right seq (%i)", async (_field, seq, sql) => {
    const { runId, traceId } = await finishedRun(db);
    await tamper(db, [sql, [traceId]]);
    const proof = await proofOf(runId);
    expect(proof.verification_status).toBe("TAMPERED");
    expect(proof.first_bad_seq).toBe(seq);
    expect(proof.failure_reason).toMatch(new RegExp(`^seq ${seq}: `));
  });

  it("catches a deleted step, an inserted step and two reordered steps", async () => {
    const deleted = await finishedRun(db);
    await tamper(db, ["delete from aos_trace_steps where trace_id = $1 and seq = 1", [deleted.traceId]]);
    expect(await proofOf(deleted.runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 1 });

    const inserted = await finishedRun(db);
    await tamper(db, [
      `insert into aos_trace_steps (trace_id, seq, step_index, step_id, attempt, skill_name, skill_version, params, status,
         outcome_code, outcome_data, error, cost_cents, tokens, duration_ms, started_at, completed_at, decision, leaf_hash, chain_hash)
       select trace_id, 3, step_index, step_id, attempt + 1, skill_name, skill_version, params, status, outcome_code,
         outcome_data, error, cost_cents, tokens, duration_ms, started_at, completed_at, decision, leaf_hash, chain_hash
       from aos_trace_steps where trace_id = $1 and seq = 2`,
      [inserted.traceId],
    ]);
    expect(await proofOf(inserted.runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 3 });

    const reordered = await finishedRun(db);
    await tamper(
      db,
      ["update aos_trace_steps set seq = 100 where trace_id = $1 and seq = 0", [reordered.traceId]],
      ["update aos_trace_steps set seq = 0 where trace_id = $1 and seq = 1", [reordered.traceId]],
      ["update aos_trace_steps set seq = 1 where trace_id = $1 and seq = 100", [reordered.traceId]],
    );
    expect(await proofOf(reordered.runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
  });

  it("catches a step moved to another run, and two runs' traces swapped", async () => {
    const source = await finishedRun(db);
    const target = await finishedRun(db);
    await tamper(db, ["update aos_trace_steps set trace_id = $2, seq = 3 where trace_id = $1 and seq = 2", [source.traceId, target.traceId]]);
    expect(await proofOf(source.runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 2 });
    expect(await proofOf(target.runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 3 });

    const one = await finishedRun(db);
    const two = await finishedRun(db);
    await tamper(
      db,
      // A superuser can drop the constraint that ties a trace's id to its run's.
      ["alter table aos_traces drop constraint aos_traces_trace_id_format"],
      ["update aos_traces set run_id = 'swap-tmp' where run_id = $1", [one.runId]],
      ["update aos_traces set run_id = $1 where run_id = $2", [one.runId, two.runId]],
      ["update aos_traces set run_id = $1 where run_id = 'swap-tmp'", [two.runId]],
    );
    expect(await proofOf(one.runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
    expect(await proofOf(two.runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
  });

  it("catches a truncated trace, a replaced checkpoint, and a changed tenant", async () => {
    const truncated = await finishedRun(db);
    await tamper(db, ["delete from aos_trace_steps where trace_id = $1 and seq >= 1", [truncated.traceId]]);
    expect(await proofOf(truncated.runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 1 });

    const replaced = await finishedRun(db);
    const donor = await finishedRun(db);
    await tamper(db, [
      "update aos_checkpoints set note = (select note from aos_checkpoints where trace_id = $2) where trace_id = $1",
      [replaced.traceId, donor.traceId],
    ]);
    const proof = await proofOf(replaced.runId);
    expect(proof.verification_status).toBe("TAMPERED");
    expect(proof.failure_reason).toMatch(/signed for .*not for run/);

    const moved = await finishedRun(db);
    await tamper(
      db,
      ["insert into tenants (id, name) values ('mallory', 'mallory') on conflict do nothing"],
      ["update runs set tenant_id = 'mallory' where id = $1", [moved.runId]],
      ["update aos_traces set tenant_id = 'mallory' where run_id = $1", [moved.runId]],
      ["update aos_checkpoints set tenant_id = 'mallory' where run_id = $1", [moved.runId]],
    );
    expect(await proofOf(moved.runId, TENANT)).toMatchObject({ verification_status: "UNSUPPORTED" });
    expect(await proofOf(moved.runId, "mallory")).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
  });

  it("catches a trace re-hashed consistently by someone without the signing key", async () => {
    const { runId, traceId } = await finishedRun(db);
    const steps = await listTraceSteps(db.pool, traceId);
    // Rewrite step 0's params, then recompute every leaf, link, the root and the checkpoint, signed with a forged key.
    const run = (await db.pool.query("select tenant_id, agent_id, plan_json from runs where id = $1", [runId])).rows[0];
    const trace = (await db.pool.query("select created_at from aos_traces where trace_id = $1", [traceId])).rows[0];
    let head = chainGenesis({
      trace_id: traceId,
      run_id: runId,
      tenant_id: run.tenant_id,
      agent_id: run.agent_id,
      plan_hash: planHash(run.plan_json),
      created_at: trace.created_at.toISOString(),
    });
    const statements: [string, unknown[]][] = [];
    const leaves: Buffer[] = [];
    for (const step of steps) {
      const forged = step.seq === 0 ? { ...step, params: { ...step.params, payload: { x: 999, y: "two" } } } : step;
      const leaf = leafHash(contentOf(forged));
      head = chainNext(head, leaf);
      leaves.push(Buffer.from(leaf, "hex"));
      statements.push([
        "update aos_trace_steps set params = $3::jsonb, leaf_hash = $4, chain_hash = $5 where trace_id = $1 and seq = $2",
        [traceId, step.seq, JSON.stringify(forged.params), leaf, head],
      ]);
    }
    const root = merkleRoot(leaves);
    const forger = generateSigningKey("aos.local");
    const note = signCheckpoint(
      formatCheckpoint({ origin: `aos.local/run/${runId}`, treeSize: steps.length, merkleRoot: root, chainHead: head }),
      forger.signer,
    );
    await tamper(
      db,
      ...statements,
      ["update aos_traces set root_hash = $2, merkle_root = $3 where trace_id = $1", [traceId, head, root.toString("hex")]],
      ["update aos_checkpoints set note = $2, merkle_root = $3, chain_head = $4 where trace_id = $1", [traceId, note, root.toString("hex"), head]],
    );
    const proof = await proofOf(runId);
    expect(proof.verification_status).toBe("TAMPERED");
    expect(proof.signature_valid).toBe(false);
    expect(proof.chain_length).toBe(3);
  });
});
