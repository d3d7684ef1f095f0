import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setPolicy } from "../src/services/policies.js";
import { proofKeys } from "../src/services/proof-keys.js";
import { getRunProof, INTEGRITY_CONFIG } from "../src/services/proofs.js";
import { parseRetentionAge, pruneFinishedRuns } from "../src/services/retention.js";
import { approveRun } from "../src/services/run-decisions.js";
import { createRun, getRunDetail } from "../src/services/runs.js";
import { canonicalJson } from "../src/trace/canonical-json.js";
import { chainNext, leafHashOf } from "../src/trace/chain.js";
import { formatCheckpoint, signCheckpoint } from "../src/trace/checkpoint.js";
import { sha256Hex } from "../src/trace/digest.js";
import { merkleRootHex } from "../src/trace/merkle.js";
import { generateSigningKey } from "../src/trace/signed-note.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { runJson } from "../src/views/run.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { PROOF_PLAN, proofRuns } from "./support/proof-runs.js";
import { runnerDeps, runToEnd, testConfig, UNPLANNABLE_GOAL } from "./support/harness.js";
import { asSuperuser } from "./support/tamper.js";

const config = testConfig();
const TENANT = "tenant-proof";

describeOnBackends("run proofs against a database writer, on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  const { proofOf, finishedRun, unfinishedRun, endedTampered } = proofRuns(() => db, config, TENANT);

  it("verifies an untouched run, and shows its facts from the proven run-end", async () => {
    const { runId } = await finishedRun();
    const proof = await proofOf(runId);
    expect(proof).toMatchObject({
      run_id: runId,
      format: "aos-trace-v2",
      integrity_model: "HASH_CHAIN",
      verification_status: "VERIFIED",
      chain_length: 4,
      step_count: 3,
      trace_count: 1,
      failure_reason: null,
      first_bad_seq: null,
      signature_valid: true,
      attestations_checked: true,
      not_covered: null,
      run: { run_id: runId, tenant_id: TENANT, goal: "prove me", origin_system_id: "cus-cli", end: { status: "succeeded", step_count: 3, attempts: 1 } },
    });
    expect(proof.checkpoint).toMatch(new RegExp(`^aos\\.local/run/${runId}\\n4\\n[^\\n]+\\naos-format aos-trace-v2\\naos-chain-head `));
    expect(proof.aos_trace_steps.map((step) => [step.seq, step.skill_name, step.status])).toEqual([
      [0, "json_transform", "succeeded"],
      [1, "json_transform", "succeeded"],
      [2, "fail_trigger", "failed"],
    ]);
    expect(INTEGRITY_CONFIG).toEqual({ model: "HASH_CHAIN", trust_boundary: "SYSTEM", storage: "POSTGRES" });
  });

  it("says UNSUPPORTED for no trace and another tenant's run, and why a run whose planning failed has none", async () => {
    expect(await proofOf("no-such-run")).toMatchObject({ verification_status: "UNSUPPORTED", failure_reason: "No trace found for run" });
    const { runId } = await finishedRun();
    expect(await proofOf(runId, "another-tenant")).toMatchObject({ verification_status: "UNSUPPORTED", trace_count: 0, aos_traces: [] });
    const failed = await createRun(runnerDeps(db, config), { tenantId: TENANT, goal: UNPLANNABLE_GOAL }).catch(
      (error: { details: { run_id: string } }) => error.details.run_id,
    );
    expect(await proofOf(failed as string)).toMatchObject({ verification_status: "UNSUPPORTED", failure_reason: expect.stringMatching(/planning failed/) });
  });

  it("reports a run still in progress as INCOMPLETE, and an unfinished run with no step too", async () => {
    const { runId } = await unfinishedRun();
    expect(await proofOf(runId)).toMatchObject({ verification_status: "INCOMPLETE", chain_length: 1, step_count: 1 });
    const queued = await createRun(runnerDeps(db, config), { tenantId: TENANT, goal: "not yet", plan: PROOF_PLAN });
    expect(await proofOf(queued.id)).toMatchObject({ verification_status: "INCOMPLETE", chain_length: 0, step_count: 0, trace_count: 1 });
  });

  // Point 1 of the issue: the run's own facts, once outside the proof.
  const runFacts: [string, string][] = [
    ["status", "status = 'failed'"],
    ["goal", "goal = 'transfer all funds'"],
    ["error_message", "error_message = 'boom'"],
    ["termination_reason", "termination_reason = 'user_abort'"],
    ["cost_cents", "cost_cents = cost_cents + 1"],
    ["attempts", "attempts = attempts + 1"],
    ["created_at", "created_at = created_at - interval '1 second'"],
    ["completed_at", "completed_at = completed_at + interval '1 second'"],
  ];
  it.each(runFacts)("catches a finished run's changed %s, naming the column", async (column, set) => {
    const { runId } = await finishedRun();
    await asSuperuser(db, [`update runs set ${set} where id = $1`, [runId]]);
    const proof = await proofOf(runId);
    expect(proof).toMatchObject({ verification_status: "TAMPERED", field: `runs.${column}` });
    // Readers show the run as its proven run-end states it, the verdict beside it.
    const shown = runJson(await getRunDetail(db, config, TENANT, runId));
    expect(shown).toMatchObject({ status: "succeeded", goal: "prove me", error_message: null, facts_from: "run-end", proof: { verification_status: "TAMPERED" } });
  });

  it("catches edits below the old hashing's precision: a microsecond, and numbers that parse to the same double", async () => {
    const edits: [string, string, number | null][] = [
      ["runs.started_at", "update runs set started_at = started_at + interval '1 microsecond' where id = $1", null],
      ["aos_trace_steps.started_at", "update aos_trace_steps set started_at = started_at + interval '1 microsecond' where trace_id = 'trace_' || $1 and seq = 1", 1],
      ["aos_trace_steps.params", `update aos_trace_steps set params = jsonb_set(params, '{payload,frac}', '0.10000000000000000001') where trace_id = 'trace_' || $1 and seq = 0`, 0],
      ["aos_trace_steps.params", `update aos_trace_steps set params = jsonb_set(params, '{payload,three}', '3.0') where trace_id = 'trace_' || $1 and seq = 0`, 0],
      ["runs.plan_json", `update runs set plan_json = jsonb_set(plan_json, '{steps,0,params,payload,three}', '3.0') where id = $1`, null],
    ];
    for (const [field, sql, seq] of edits) {
      const { runId } = await finishedRun();
      await asSuperuser(db, [sql, [runId]]);
      const proof = await proofOf(runId);
      expect([field, proof.verification_status, proof.field, proof.first_bad_seq]).toEqual([field, "TAMPERED", field, seq]);
    }
  });

  it("is TAMPERED when every step row of a finished run is deleted, since its checkpoint counts them", async () => {
    const { runId, traceId } = await finishedRun();
    await asSuperuser(db, ["delete from aos_trace_steps where trace_id = $1", [traceId]]);
    expect(await proofOf(runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
  });

  it("catches a trace re-hashed and re-signed with another key as UNTRUSTED_KEY, naming that key", async () => {
    const { runId, traceId } = await finishedRun();
    const forger = generateSigningKey("aos.local");
    const trace = (await db.pool.query("select run_end_jcs from aos_traces where trace_id = $1", [traceId])).rows[0];
    const rows = (await db.pool.query("select leaf_hash, chain_hash from aos_trace_steps where trace_id = $1 order by seq", [traceId])).rows;
    // Change the run-end's status to failed and re-hash: the only honest way to make the bytes consistent again.
    const runEnd = Buffer.from(trace.run_end_jcs.toString("utf8").replace('"status":"succeeded"', '"status":"failed"'));
    const endLeaf = leafHashOf(runEnd);
    const head = chainNext(rows.at(-1).chain_hash, endLeaf);
    const root = merkleRootHex([...rows.map((row: { leaf_hash: string }) => row.leaf_hash), endLeaf]);
    const body = formatCheckpoint({ format: "aos-trace-v2", origin: `aos.local/run/${runId}`, treeSize: 4, merkleRoot: Buffer.from(root, "hex"), chainHead: head });
    const note = signCheckpoint(body, forger.signer);
    await asSuperuser(
      db,
      ["update aos_traces set run_end_jcs = $2, root_hash = $3, merkle_root = $4 where trace_id = $1", [traceId, runEnd, head, root]],
      ["update aos_checkpoints set note = $2, merkle_root = $3, chain_head = $4, key_id = $5 where trace_id = $1", [traceId, note, root, head, forger.signer.keyId]],
      ["update runs set status = 'failed', chain_head = $2 where id = $1", [runId, head]],
    );
    const proof = await proofOf(runId);
    expect(proof).toMatchObject({ verification_status: "UNTRUSTED_KEY", signing_keys: [`aos.local+${forger.signer.keyId}`] });
    expect(proof.failure_reason).toContain(forger.signer.keyId);
  });

  describe("laundering through a worker: nothing it did not write and cannot check is extended or signed", () => {
    /** Rewrites step `seq`'s outcome, then its leaf and every chain hash after it, with the project's own hashing. */
    const relaunder = async (runId: string, seq: number) => {
      const traceId = `trace_${runId}`;
      const rows = (await db.pool.query("select seq, header_jcs, chain_hash from aos_trace_steps where trace_id = $1 order by seq", [traceId])).rows;
      const forged = '{"x":999}';
      let head = seq === 0 ? null : (rows[seq - 1].chain_hash as string);
      const statements: [string, unknown[]][] = [];
      for (const row of rows.slice(seq)) {
        const header = JSON.parse(row.header_jcs.toString("utf8"));
        if (row.seq === seq) header.outcome_sha256 = sha256Hex(forged);
        const bytes = Buffer.from(canonicalJson(header));
        const leaf = leafHashOf(bytes);
        head = chainNext(head ?? (await genesisOf(runId)), leaf);
        statements.push([
          `update aos_trace_steps set header_jcs = $3, leaf_hash = $4, chain_hash = $5${row.seq === seq ? ", outcome_jcs = $6::bytea, outcome_data = convert_from($6::bytea, 'UTF8')::jsonb" : ""}
           where trace_id = $1 and seq = $2`,
          row.seq === seq ? [traceId, row.seq, bytes, leaf, head, Buffer.from(forged)] : [traceId, row.seq, bytes, leaf, head],
        ]);
      }
      await asSuperuser(db, ...statements, ["update runs set chain_head = $2 where id = $1", [runId, head]]);
    };
    const genesisOf = async (runId: string) => {
      const { rows } = await db.pool.query("select header_jcs from aos_traces where run_id = $1", [runId]);
      return sha256Hex(Buffer.concat([Buffer.from("aos-trace-v2\n"), rows[0].header_jcs]));
    };
    it("an unfinished run re-hashed consistently: `aos proof` names the seq, and the next worker ends it tampered, unsigned", async () => {
      const { runId } = await unfinishedRun();
      await relaunder(runId, 0);
      expect(await proofOf(runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0, field: "steps[0].attestation" });
      await db.pool.query("update runs set status = 'queued', worker_id = null where id = $1", [runId]);
      await claimAndExecute(runnerDeps(db, config), runId, "next-worker");
      await endedTampered(runId);
    });

    it("a finished run reset to queued, its checkpoint and records deleted and a step re-hashed: ended tampered, not re-signed", async () => {
      const { runId, traceId } = await finishedRun();
      await asSuperuser(
        db,
        ["delete from aos_checkpoints where trace_id = $1", [traceId]],
        ...["incidents", "prevention_records", "integrity_evidence", "provenance"].map(
          (table): [string, unknown[]] => [`delete from ${table} where ${table === "incidents" ? "source_run_id" : "run_id"} = $1`, [runId]],
        ),
        ["update aos_traces set status = 'running', completed_at = null, root_hash = null, merkle_root = null, tree_size = null, run_end_jcs = null, metadata = '{}' where trace_id = $1", [traceId]],
        ["update runs set status = 'queued', completed_at = null, termination_reason = null, next_step_index = 2 where id = $1", [runId]],
      );
      await relaunder(runId, 1);
      await claimAndExecute(runnerDeps(db, config), runId, "next-worker");
      await endedTampered(runId);
    });

    it("a queued run whose goal was changed, header and all: its header attestation fails before anything runs", async () => {
      const run = await createRun(runnerDeps(db, config), { tenantId: TENANT, goal: "pay 10 dollars", plan: PROOF_PLAN });
      const header = (await db.pool.query("select header_jcs from aos_traces where run_id = $1", [run.id])).rows[0].header_jcs.toString("utf8");
      const forged = Buffer.from(header.replace("pay 10 dollars", "pay 10000 dollars"));
      const genesis = sha256Hex(Buffer.concat([Buffer.from("aos-trace-v2\n"), forged]));
      await asSuperuser(
        db,
        ["update aos_traces set header_jcs = $2 where run_id = $1", [run.id, forged]],
        ["update runs set goal = 'pay 10000 dollars', chain_head = $2 where id = $1", [run.id, genesis]],
      );
      await claimAndExecute(runnerDeps(db, config), run.id, "worker");
      await endedTampered(run.id);
      expect((await db.pool.query("select count(*)::int as n from aos_trace_steps where trace_id = $1", [`trace_${run.id}`])).rows[0].n).toBe(0);
    });

    it("an approval written into the database by hand is not an approval", async () => {
      const tenantId = "tenant-proof-approval";
      await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
      const parked = await runToEnd(db, config, { tenantId, goal: "needs a person", plan: { steps: [{ step_id: "g", skill: "fail_trigger", params: { fail_times: 0 } }] } });
      expect(parked.run.status).toBe("pending_approval");
      await asSuperuser(
        db,
        ["insert into run_approvals (run_id, step_index, tenant_id, decision, decided_by, decided_at) values ($1, 0, $2, 'approved', 'mallory', now())", [parked.run.id, tenantId]],
        ["update runs set status = 'queued' where id = $1", [parked.run.id]],
      );
      await claimAndExecute(runnerDeps(db, config), parked.run.id, "worker");
      const detail = await getRunDetail(db, config, tenantId, parked.run.id);
      expect(detail.run).toMatchObject({ status: "failed", terminationReason: "tampered" });
      expect(detail.run.errorMessage).toMatch(/the approval of step 0: it has no attestation/);
    });

    it("an approval cannot be pointed at a step the run never parked at, nor a cancel request or start time forged", async () => {
      const tenantId = "tenant-proof-redirect";
      await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
      const twoWaits = { steps: [{ step_id: "g1", skill: "fail_trigger", params: { fail_times: 0 } }, { step_id: "g2", skill: "fail_trigger", params: { fail_times: 0 } }] };
      const parked = await runToEnd(db, config, { tenantId, goal: "two waits", plan: twoWaits });
      // Pointing the run row at the second wait so that alice's approval lands there: refused, nothing recorded.
      await asSuperuser(db, ["update runs set next_step_index = 1 where id = $1", [parked.run.id]]);
      await expect(approveRun(db, runnerDeps(db, config).keys, tenantId, parked.run.id, "alice")).rejects.toMatchObject({ code: "TRACE_TAMPERED" });
      expect((await db.pool.query("select count(*)::int as n from run_approvals where run_id = $1", [parked.run.id])).rows[0].n).toBe(0);

      // A cancel request written by hand is not honoured: the worker ends the run tampered instead.
      const running = await createRun(runnerDeps(db, config), { tenantId: TENANT, goal: "keep going", plan: PROOF_PLAN });
      await db.pool.query("update runs set cancel_requested_at = now() where id = $1", [running.id]);
      await claimAndExecute(runnerDeps(db, config), running.id, "worker");
      await endedTampered(running.id);
      expect((await getRunDetail(db, config, TENANT, running.id)).run.errorMessage).toMatch(/the request to cancel the run: it has no attestation/);

      // A start time moved far outside the run's life is refused before anything runs.
      const queued = await createRun(runnerDeps(db, config), { tenantId: TENANT, goal: "when did it start", plan: PROOF_PLAN });
      await asSuperuser(db, ["update runs set started_at = '2031-01-01T00:00:00Z' where id = $1", [queued.id]]);
      await claimAndExecute(runnerDeps(db, config), queued.id, "worker");
      await endedTampered(queued.id);
    });

    it("a genuine approval still resumes the run, and its proof verifies", async () => {
      const tenantId = "tenant-proof-approved";
      await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
      const parked = await runToEnd(db, config, { tenantId, goal: "needs a person", plan: { steps: [{ step_id: "g", skill: "fail_trigger", params: { fail_times: 0 } }] } });
      await approveRun(db, runnerDeps(db, config).keys, tenantId, parked.run.id, "alice");
      await claimAndExecute(runnerDeps(db, config), parked.run.id, "worker");
      expect(await getRunProof(db, config, tenantId, parked.run.id)).toMatchObject({ verification_status: "VERIFIED", run: { end: { status: "succeeded" } } });
    });
  });

  it("keeps verifying runs recorded in format v1, and says what v1 does not cover", async () => {
    const fixture = JSON.parse(readFileSync(new URL("./fixtures/v1/rows.json", import.meta.url), "utf8"));
    const v1Config = testConfig({ AOS_VERIFIER_KEYS: fixture.vkey });
    for (const [name, stored] of Object.entries(fixture.runs) as [string, { run_id: string; tenant_id: string; rows: Record<string, unknown[]> }][]) {
      const statements: [string, unknown[]][] = ["tenants", "agents", "runs", "aos_traces", "aos_trace_steps", "aos_checkpoints"].flatMap((table) =>
        stored.rows[table]!.map((row): [string, unknown[]] => [`insert into ${table} select * from jsonb_populate_record(null::${table}, $1::jsonb)`, [JSON.stringify(row)]]),
      );
      await asSuperuser(db, ...statements);
      const proof = await getRunProof(db, v1Config, stored.tenant_id, stored.run_id);
      expect([name, proof.verification_status, proof.format]).toEqual([name, "VERIFIED", "aos-trace-v1"]);
      expect(proof.not_covered).toMatch(/does not cover the run's own facts/);
      // What v1 does cover, it still checks.
      await asSuperuser(db, ["update aos_trace_steps set leaf_hash = repeat('0', 64) where trace_id = $1 and seq = 1", [`trace_${stored.run_id}`]]);
      expect((await getRunProof(db, v1Config, stored.tenant_id, stored.run_id)).verification_status).toBe("TAMPERED");
      // Stored values v1's code once trusted to be well formed: a verdict names them, nothing throws.
      await asSuperuser(db, ["update aos_trace_steps set leaf_hash = 'zz' where trace_id = $1 and seq = 0", [`trace_${stored.run_id}`]]);
      expect(await getRunProof(db, v1Config, stored.tenant_id, stored.run_id)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
      await asSuperuser(db, ["update aos_traces set created_at = '290000-01-01T00:00:00Z' where run_id = $1", [stored.run_id]]);
      expect(await getRunProof(db, v1Config, stored.tenant_id, stored.run_id)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
    }
    // Retention verifies each run before emptying it: the one with steps left to prune is refused and reported.
    const report = await pruneFinishedRuns(db, proofKeys(v1Config), { olderThan: parseRetentionAge("1min"), tenantId: "tenant-v1", dryRun: true, now: new Date(Date.now() + 3_600_000) });
    expect(report.refused).toEqual([expect.objectContaining({ run_id: fixture.runs.untouched.run_id, verification_status: "TAMPERED" })]);
  });
});
