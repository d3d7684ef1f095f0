import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Output } from "../src/cli/output.js";
import { printProof } from "../src/cli/present-proof.js";
import type { Database } from "../src/db/database.js";
import { claimRunById } from "../src/db/queries/runs.js";
import { exportProofBundle, getRunProof, proveStep } from "../src/services/proofs.js";
import { parseRetentionAge, type PruneRequest, pruneFinishedRuns } from "../src/services/retention.js";
import { createRun } from "../src/services/runs.js";
import { type FullBundleStep, type ProofBundle, type PrunedBundleStep, parseBundle } from "../src/trace/bundle.js";
import { loadVerifiers } from "../src/trace/key-store.js";
import { verifyTrace } from "../src/trace/verify-trace.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { testBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";

const config = testConfig();
const THIRTY_DAYS = parseRetentionAge("30d");

const plan = {
  steps: [
    { step_id: "a", skill: "json_transform", params: { payload: { secret_plan: "Ada" }, mapping: { who: "secret_plan" } } },
    { step_id: "b", skill: "json_transform", params: { payload: { hi: "hello {{a.who}}" }, mapping: { hi: "hi" } } },
    { step_id: "c", skill: "fail_trigger", params: { retryable: false, message: "kept out of the record" }, on_error: "continue" },
  ],
};

const PRUNED_WORDING =
  "VERIFIED (payloads pruned for 3 of 3 steps: their leaf hashes were checked against the signed Merkle root and chain, their content could not be re-hashed)";

/** Changes rows the way a database superuser could: inside a transaction with triggers and FKs switched off. */
async function asSuperuser(db: Database, sql: string, params: unknown[]): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    await client.query(sql, params);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

function capture(): Output & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (text) => void lines.push(text), err: (text) => void lines.push(text), isTty: false, color: false };
}

describe("--older-than", () => {
  it("accepts days, hours and minutes, and names the accepted forms otherwise", () => {
    expect(parseRetentionAge("30d")).toEqual({ text: "30d", ms: 30 * 86_400_000 });
    expect(parseRetentionAge("12h")).toEqual({ text: "12h", ms: 12 * 3_600_000 });
    expect(parseRetentionAge("90m")).toEqual({ text: "90m", ms: 90 * 60_000 });
    for (const bad of ["30", "0d", "-1d", "1.5d", "30s", "2w", "d", "", "30 days", "1234567d"]) {
      expect(() => parseRetentionAge(bad)).toThrow(expect.objectContaining({ code: "USAGE", message: expect.stringMatching(/30d, 12h or 90m/) }));
    }
  });
});

describe.each(testBackends())("retention (aos prune) on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  const prune = (tenantId: string | undefined, options: Partial<PruneRequest> = {}) =>
    pruneFinishedRuns(db, { olderThan: THIRTY_DAYS, tenantId, dryRun: false, ...options });

  /** A finished run whose run row says it ended `daysAgo` days ago (the runs table is not immutable). */
  async function finishedRun(tenantId: string, daysAgo: number): Promise<{ runId: string; traceId: string }> {
    const detail = await runToEnd(db, config, { tenantId, goal: "keep me for a while", plan });
    expect(detail.run.status).toBe("succeeded");
    await db.pool.query("update runs set completed_at = now() - make_interval(days => $2::int) where id = $1", [detail.run.id, daysAgo]);
    return { runId: detail.run.id, traceId: `trace_${detail.run.id}` };
  }

  /** A run left `running` with one recorded step, its worker gone (as in test/proof-tampering.test.ts). */
  async function runningRun(tenantId: string): Promise<{ runId: string; traceId: string }> {
    const run = await createRun(db, config, { tenantId, goal: "still going", plan });
    const claimed = await claimRunById(db.pool, run.id, "w", 30_000);
    const deps = { ...runnerDeps(db, config), onStep: () => void db.pool.query("update runs set epoch = epoch + 1 where id = $1", [run.id]) };
    await expect(executeClaimedRun(deps, claimed!)).rejects.toMatchObject({ code: "LEASE_LOST" });
    return { runId: run.id, traceId: `trace_${run.id}` };
  }

  async function stepRows(traceId: string) {
    const { rows } = await db.pool.query(
      "select seq, params, outcome_data, error, pruned_at, leaf_hash, chain_hash from aos_trace_steps where trace_id = $1 order by seq",
      [traceId],
    );
    return rows;
  }

  async function closure(traceId: string) {
    const trace = await db.pool.query("select root_hash, merkle_root, tree_size, status from aos_traces where trace_id = $1", [traceId]);
    const checkpoint = await db.pool.query("select note from aos_checkpoints where trace_id = $1", [traceId]);
    return { trace: trace.rows[0], checkpoint: checkpoint.rows[0] };
  }

  it("empties only the payload of old finished runs and keeps their proofs VERIFIED, saying so", async () => {
    const tenant = "t-ret-proof";
    const old = await finishedRun(tenant, 40);
    const recent = await finishedRun(tenant, 2);
    const running = await runningRun(tenant);
    // A running run whose row claims an old completion time is still not pruned: only terminal runs are.
    await db.pool.query("update runs set completed_at = now() - interval '400 days' where id = $1", [running.runId]);
    const before = { old: await stepRows(old.traceId), oldClosure: await closure(old.traceId), recent: await stepRows(recent.traceId), running: await stepRows(running.traceId) };

    const dry = await prune(tenant, { dryRun: true });
    expect(dry).toMatchObject({ dry_run: true, tenant_id: tenant, older_than: "30d", runs: 1, steps: 3 });
    expect(await stepRows(old.traceId)).toEqual(before.old);

    expect(await prune(tenant)).toMatchObject({ dry_run: false, tenant_id: tenant, runs: 1, steps: 3 });
    const after = await stepRows(old.traceId);
    expect(after.map((row) => [row.params, row.outcome_data, row.error])).toEqual([
      [null, null, null],
      [null, null, null],
      [null, null, null],
    ]);
    expect(after.every((row) => row.pruned_at instanceof Date)).toBe(true);
    expect(after.map((row) => [row.seq, row.leaf_hash, row.chain_hash])).toEqual(before.old.map((row) => [row.seq, row.leaf_hash, row.chain_hash]));
    expect(await closure(old.traceId)).toEqual(before.oldClosure);
    expect(await stepRows(recent.traceId)).toEqual(before.recent);
    expect(await stepRows(running.traceId)).toEqual(before.running);
    expect(before.recent[0].params).toMatchObject({ payload: { secret_plan: "Ada" } });

    const proof = await getRunProof(db, config, tenant, old.runId);
    expect(proof).toMatchObject({ verification_status: "VERIFIED", chain_length: 3, step_count: 3, pruned_steps: 3, signature_valid: true, failure_reason: null });
    const shown = capture();
    printProof(shown, proof);
    expect(shown.lines[0]).toBe(`Proof for run ${old.runId}: ${PRUNED_WORDING}`);
    expect(await getRunProof(db, config, tenant, recent.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 0 });
    expect(await getRunProof(db, config, tenant, running.runId)).toMatchObject({ verification_status: "INCOMPLETE", pruned_steps: 0 });
    await expect(proveStep(db, config, tenant, old.runId, 1)).rejects.toMatchObject({ code: "VALIDATION_ERROR", message: expect.stringMatching(/was pruned/) });
    expect(await proveStep(db, config, tenant, recent.runId, 1)).toContain(`aos.local/run/${recent.runId}`);
  });

  it("exports a pruned run's bundle with hashes and a pruned flag, which verifies offline with the pruned wording", async () => {
    const tenant = "t-ret-bundle";
    const old = await finishedRun(tenant, 31);
    await prune(tenant);
    const bundle = JSON.parse(JSON.stringify(await exportProofBundle(db, config, tenant, old.runId))) as ProofBundle;
    expect(bundle.format).toBe("aos-proof-bundle/v1");
    for (const step of bundle.steps) {
      expect(step).toMatchObject({ pruned: true, pruned_at: expect.stringMatching(/Z$/), leaf_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(step).not.toHaveProperty("params");
      expect(step).not.toHaveProperty("outcome_data");
      expect(step).not.toHaveProperty("error");
    }
    expect(JSON.stringify(bundle)).not.toContain("secret_plan");

    const verifiers = loadVerifiers(config);
    const check = (candidate: ProofBundle) => {
      const parsed = parseBundle(JSON.stringify(candidate));
      if (!parsed.ok) return { status: "TAMPERED", firstBadSeq: parsed.firstBadSeq, prunedSteps: 0, reason: parsed.reason };
      const verdict = verifyTrace(parsed.evidence, verifiers);
      return { status: verdict.status, firstBadSeq: verdict.firstBadSeq, prunedSteps: verdict.prunedSteps, reason: verdict.failureReason };
    };
    expect(check(bundle)).toEqual({ status: "VERIFIED", firstBadSeq: null, prunedSteps: 3, reason: null });

    const changed = (change: (copy: ProofBundle) => void) => {
      const copy = structuredClone(bundle);
      change(copy);
      return check(copy);
    };
    expect(changed((b) => void (b.steps[1]!.leaf_hash = "0".repeat(64)))).toMatchObject({ status: "TAMPERED", firstBadSeq: 1 });
    expect(changed((b) => void (b.steps[2]!.chain_hash = "f".repeat(64)))).toMatchObject({ status: "TAMPERED", firstBadSeq: 2 });
    expect(changed((b) => void b.steps.splice(1, 1))).toMatchObject({ status: "TAMPERED", firstBadSeq: 1 });
    // A pruned step cannot smuggle a payload back in, and an unfinished run cannot have pruned steps.
    expect(changed((b) => void Object.assign(b.steps[0]!, { params: { x: 1 } }))).toMatchObject({ status: "TAMPERED", firstBadSeq: 0 });
    expect(changed((b) => void Object.assign(b.steps[0]!, { pruned: false }))).toMatchObject({ status: "TAMPERED", firstBadSeq: 0 });
    const unfinished = (b: ProofBundle) => {
      b.run.finished = false;
      b.checkpoint = null;
    };
    expect(changed(unfinished)).toMatchObject({ status: "TAMPERED", firstBadSeq: 0 });
  });

  it("still re-hashes every step that was not pruned, next to pruned ones", async () => {
    const tenant = "t-ret-mixed";
    const recent = await finishedRun(tenant, 1);
    const full = JSON.parse(JSON.stringify(await exportProofBundle(db, config, tenant, recent.runId))) as ProofBundle;
    const verifiers = loadVerifiers(config);
    // Step 1 in its pruned form, as a pruned export would carry it; steps 0 and 2 keep their content.
    const { params: _p, outcome_data: _o, error: _e, ...kept } = full.steps[1] as FullBundleStep;
    const mixed: ProofBundle = { ...full, steps: [full.steps[0]!, { ...kept, pruned: true, pruned_at: new Date().toISOString() } satisfies PrunedBundleStep, full.steps[2]!] };
    const verdictOf = (bundle: ProofBundle) => {
      const parsed = parseBundle(JSON.stringify(bundle));
      if (!parsed.ok) throw new Error(parsed.reason);
      return verifyTrace(parsed.evidence, verifiers);
    };
    expect(verdictOf(mixed)).toMatchObject({ status: "VERIFIED", prunedSteps: 1 });
    const forged = structuredClone(mixed);
    ((forged.steps[2] as FullBundleStep).error as { message: string }).message = "nothing went wrong";
    expect(verdictOf(forged)).toMatchObject({ status: "TAMPERED", firstBadSeq: 2, failureReason: expect.stringMatching(/does not hash to its leaf hash/) });
  });

  it("prunes one tenant with --tenant-id, and every tenant without it", async () => {
    const mine = await finishedRun("t-ret-a", 45);
    const theirs = await finishedRun("t-ret-b", 45);
    expect(await prune("t-ret-a")).toMatchObject({ runs: 1, steps: 3 });
    expect((await stepRows(theirs.traceId)).every((row) => row.pruned_at === null && row.params !== null)).toBe(true);
    expect(await getRunProof(db, config, "t-ret-b", theirs.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 0 });

    const everyone = await prune(undefined);
    expect(everyone.tenant_id).toBeNull();
    expect(everyone.runs).toBeGreaterThanOrEqual(1);
    expect((await stepRows(theirs.traceId)).every((row) => row.pruned_at !== null && row.params === null)).toBe(true);
    expect(await getRunProof(db, config, "t-ret-a", mine.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 3 });
    expect(await getRunProof(db, config, "t-ret-b", theirs.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 3 });
  });

  it("is idempotent: pruning again prunes nothing and changes nothing", async () => {
    const tenant = "t-ret-twice";
    const old = await finishedRun(tenant, 60);
    expect(await prune(tenant)).toMatchObject({ runs: 1, steps: 3 });
    const once = await stepRows(old.traceId);
    expect(await prune(tenant, { dryRun: true })).toMatchObject({ runs: 0, steps: 0 });
    expect(await prune(tenant)).toMatchObject({ runs: 0, steps: 0 });
    expect(await stepRows(old.traceId)).toEqual(once);
    expect(await getRunProof(db, config, tenant, old.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 3 });
  });

  it("catches a tampered pruned row: a changed leaf or chain hash, or a forged payload put back", async () => {
    const tenant = "t-ret-tamper";
    const cases: [string, string, number][] = [
      ["leaf hash", "update aos_trace_steps set leaf_hash = repeat('0', 64) where trace_id = $1 and seq = 1", 1],
      ["chain hash", "update aos_trace_steps set chain_hash = repeat('0', 64) where trace_id = $1 and seq = 2", 2],
      // The content of a pruned row cannot be re-hashed, but a leaf changed to match it still breaks the chain.
      ["leaf and chain of the last row", "update aos_trace_steps set leaf_hash = repeat('1', 64), chain_hash = repeat('2', 64) where trace_id = $1 and seq = 2", 2],
      // Un-pruning with a forged payload: the row is re-hashed again, and fails.
      ["payload put back", `update aos_trace_steps set pruned_at = null, params = '{"payload":{"secret_plan":"Eve"}}' where trace_id = $1 and seq = 0`, 0],
    ];
    for (const [what, sql, seq] of cases) {
      const old = await finishedRun(tenant, 50);
      await prune(tenant);
      await asSuperuser(db, sql, [old.traceId]);
      const proof = await getRunProof(db, config, tenant, old.runId);
      expect([what, proof.verification_status, proof.first_bad_seq]).toEqual([what, "TAMPERED", seq]);
    }
    // A payload beside the pruned mark is refused even with triggers off: the check constraint still applies.
    const old = await finishedRun(tenant, 50);
    await prune(tenant);
    await expect(asSuperuser(db, `update aos_trace_steps set params = '{"x": 1}' where trace_id = $1 and seq = 0`, [old.traceId])).rejects.toMatchObject({
      code: "23514",
    });
  });

  it("keeps the trace append-only: the trigger refuses every update that is not a prune, and every delete", async () => {
    const tenant = "t-ret-trigger";
    const finished = await finishedRun(tenant, 1);
    const running = await runningRun(tenant);
    const refused = async (sql: string, traceId: string) =>
      expect(db.pool.query(sql, [traceId])).rejects.toThrow(/S6_IMMUTABILITY_VIOLATION: aos_trace_steps is append-only/);
    const PRUNE = "params = null, outcome_data = null, error = null, pruned_at = now()";
    await refused("update aos_trace_steps set cost_cents = cost_cents + 1 where trace_id = $1", finished.traceId);
    await refused(`update aos_trace_steps set ${PRUNE}, cost_cents = cost_cents + 1 where trace_id = $1`, finished.traceId);
    await refused(`update aos_trace_steps set ${PRUNE}, leaf_hash = repeat('0', 64) where trace_id = $1`, finished.traceId);
    await refused("update aos_trace_steps set outcome_data = null, error = null, pruned_at = now() where trace_id = $1", finished.traceId);
    await refused("update aos_trace_steps set params = null, outcome_data = null, error = null where trace_id = $1", finished.traceId);
    await refused("update aos_trace_steps set pruned_at = now() where trace_id = $1", finished.traceId);
    await refused(`update aos_trace_steps set ${PRUNE} where trace_id = $1`, running.traceId);
    await refused("delete from aos_trace_steps where trace_id = $1", finished.traceId);
    expect((await stepRows(finished.traceId)).every((row) => row.pruned_at === null && row.params !== null)).toBe(true);

    // The prune itself is allowed once; after it, the row is as immutable as before, pruned_at included.
    await db.pool.query(`update aos_trace_steps set ${PRUNE} where trace_id = $1`, [finished.traceId]);
    await refused("update aos_trace_steps set pruned_at = now() + interval '1 day' where trace_id = $1", finished.traceId);
    await refused(`update aos_trace_steps set ${PRUNE} where trace_id = $1`, finished.traceId);
    await refused("delete from aos_trace_steps where trace_id = $1", finished.traceId);
    expect(await getRunProof(db, config, tenant, finished.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 3 });
  });

  it("sweeps rows past their own expiry: kv_store entries and idempotency records, API idempotency keys over 24 h", async () => {
    const tenant = "tenant-sweep";
    const other = "tenant-sweep-other";
    const kv = (key: string, params: Record<string, unknown>) => ({
      step_id: key,
      skill: "kv_store",
      params: { op: "set", key, value: 1, ...params },
    });
    for (const tenantId of [tenant, other]) {
      await runToEnd(db, config, { tenantId, goal: "kv", plan: { steps: [kv("short", { ttl_seconds: 60 }), kv("long", { ttl_seconds: 3600 })] } });
      await createRun(db, config, { tenantId, goal: "once", plan, idempotencyKey: "order-1", requestHash: "a".repeat(64) });
    }
    // Time passes for the short entry, the step idempotency records and the API key of the first tenant only.
    await db.pool.query("update kv_store set expires_at = now() - interval '1 second' where tenant_id = $1 and key = 'short'", [tenant]);
    await db.pool.query("update kv_idempotency set expires_at = now() - interval '1 second' where tenant_id = $1", [tenant]);
    await db.pool.query("update run_requests set created_at = now() - interval '25 hours' where tenant_id = $1", [tenant]);

    const dry = await prune(tenant, { dryRun: true });
    expect(dry.expired).toEqual({ kv_entries: 1, kv_idempotency: 2, run_requests: 1 });
    expect((await prune(tenant)).expired).toEqual({ kv_entries: 1, kv_idempotency: 2, run_requests: 1 });
    expect((await prune(tenant)).expired).toEqual({ kv_entries: 0, kv_idempotency: 0, run_requests: 0 });
    const left = await db.pool.query("select count(*)::int as n from kv_store where tenant_id = $1", [tenant]);
    expect(left.rows[0].n).toBe(1);
    const untouched = await db.pool.query("select (select count(*)::int from kv_store where tenant_id = $1) as kv, (select count(*)::int from run_requests where tenant_id = $1) as keys", [other]);
    expect(untouched.rows[0]).toEqual({ kv: 2, keys: 1 });
  });
});
