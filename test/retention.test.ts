import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Output } from "../src/cli/output.js";
import { printProof } from "../src/cli/present-proof.js";
import { claimRunById } from "../src/db/queries/run-status.js";
import { proofKeys } from "../src/services/proof-keys.js";
import { exportProofBundle, getRunProof, proveStep } from "../src/services/proofs.js";
import { parseRetentionAge, type PruneRequest, pruneFinishedRuns } from "../src/services/retention.js";
import { createRun } from "../src/services/runs.js";
import type { ProofBundle } from "../src/trace/bundle.js";
import { loadVerifiers } from "../src/trace/key-store.js";
import { type VerdictJson, verifyBundleText } from "../src/trace/verify-bundle.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";
import { asSuperuser, daysAgo } from "./support/tamper.js";

const config = testConfig();
const THIRTY_DAYS = parseRetentionAge("30d");

const plan = {
  steps: [
    { step_id: "a", skill: "json_transform", params: { payload: { secret_plan: "Ada" }, mapping: { who: "secret_plan" } } },
    { step_id: "b", skill: "json_transform", params: { payload: { hi: "hello {{a.who}}" }, mapping: { hi: "hi" } } },
    { step_id: "c", skill: "fail_trigger", params: { retryable: false, message: "kept out of the record" }, on_error: "continue" },
  ],
};

const PRUNED_WORDING = "VERIFIED (payloads pruned for 3 of 3 steps: their headers are proven, their content is not there to hash)";

function capture(): Output & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (text) => void lines.push(text), err: (text) => void lines.push(text), isTty: false, color: false };
}

describe("--older-than", () => {
  it("accepts units that cannot be misread, and names the accepted forms otherwise", () => {
    expect(parseRetentionAge("30d")).toEqual({ text: "30d", ms: 30 * 86_400_000 });
    expect(parseRetentionAge("12h")).toEqual({ text: "12h", ms: 12 * 3_600_000 });
    expect(parseRetentionAge("90min")).toEqual({ text: "90min", ms: 90 * 60_000 });
    expect(parseRetentionAge("45s")).toEqual({ text: "45s", ms: 45 * 1_000 });
    expect(parseRetentionAge(" 2w ")).toEqual({ text: "2w", ms: 14 * 86_400_000 });
    for (const bad of ["30", "0d", "-1d", "1.5d", "0min", "d", "", "30 days", "1234567d", "30D", "1y", "12hours"]) {
      expect(() => parseRetentionAge(bad)).toThrow(expect.objectContaining({ code: "USAGE", message: expect.stringMatching(/like 30d, 12h, 90min, 45s or 2w; got/) }));
    }
  });

  it("refuses m, which reads as minutes or months, and months, suggesting what to write", () => {
    expect(() => parseRetentionAge("6m")).toThrow(
      expect.objectContaining({ code: "USAGE", message: expect.stringContaining('"6m" could mean 6 minutes or 6 months; write 6min for minutes or 180d for months') }),
    );
    for (const months of ["6mo", "6 months", "6M"]) {
      expect(() => parseRetentionAge(months)).toThrow(expect.objectContaining({ code: "USAGE", message: expect.stringContaining("180d") }));
    }
  });
});

describeOnBackends("retention (aos prune) on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  const prune = (tenantId: string | undefined, options: Partial<PruneRequest> = {}) =>
    pruneFinishedRuns(db, proofKeys(config), { olderThan: THIRTY_DAYS, tenantId, dryRun: false, ...options });

  /** A run recorded `days` ago: its times, hashed and signed, are from then (see daysAgo). */
  async function finishedRun(tenantId: string, days: number): Promise<{ runId: string; traceId: string }> {
    const detail = await daysAgo(days, () => runToEnd(db, config, { tenantId, goal: "keep me for a while", plan }));
    expect(detail.run.status).toBe("succeeded");
    return { runId: detail.run.id, traceId: `trace_${detail.run.id}` };
  }

  /** A run left `running` with one recorded step, its worker gone, recorded long ago. */
  async function runningRun(tenantId: string): Promise<{ runId: string; traceId: string }> {
    return daysAgo(400, async () => {
      const run = await createRun(runnerDeps(db, config), { tenantId, goal: "still going", plan });
      const claimed = await claimRunById(db.pool, run.id, "w", 30_000);
      const deps = { ...runnerDeps(db, config), onStep: () => void db.pool.query("update runs set epoch = epoch + 1 where id = $1", [run.id]) };
      await expect(executeClaimedRun(deps, claimed!)).rejects.toMatchObject({ code: "LEASE_LOST" });
      return { runId: run.id, traceId: `trace_${run.id}` };
    });
  }

  async function stepRows(traceId: string) {
    const { rows } = await db.pool.query(
      `select seq, params, outcome_data, error, params_jcs, outcome_jcs, error_jcs, header_jcs, pruned_at, leaf_hash, chain_hash
from aos_trace_steps where trace_id = $1 order by seq`,
      [traceId],
    );
    return rows;
  }

  async function closure(traceId: string) {
    const trace = await db.pool.query("select root_hash, merkle_root, tree_size, status, run_end_jcs from aos_traces where trace_id = $1", [traceId]);
    const checkpoint = await db.pool.query("select note from aos_checkpoints where trace_id = $1", [traceId]);
    return { trace: trace.rows[0], checkpoint: checkpoint.rows[0] };
  }

  const verifyBundle = async (tenantId: string, runId: string) =>
    verifyBundleText(JSON.stringify(await exportProofBundle(db, config, tenantId, runId)), loadVerifiers(config));

  it("empties only the payload of old finished runs, after verifying each, and keeps their proofs VERIFIED, saying so", async () => {
    const tenant = "t-ret-proof";
    const old = await finishedRun(tenant, 40);
    const recent = await finishedRun(tenant, 2);
    const running = await runningRun(tenant);
    const before = { old: await stepRows(old.traceId), oldClosure: await closure(old.traceId), recent: await stepRows(recent.traceId), running: await stepRows(running.traceId) };

    const dry = await prune(tenant, { dryRun: true });
    expect(dry).toMatchObject({ dry_run: true, tenant_id: tenant, older_than: "30d", runs: 1, steps: 3, refused: [] });
    expect(await stepRows(old.traceId)).toEqual(before.old);

    expect(await prune(tenant)).toMatchObject({ dry_run: false, tenant_id: tenant, runs: 1, steps: 3, refused: [] });
    const after = await stepRows(old.traceId);
    expect(after.map((row) => [row.params, row.outcome_data, row.error, row.params_jcs, row.outcome_jcs, row.error_jcs])).toEqual(
      Array.from({ length: 3 }, () => [null, null, null, null, null, null]),
    );
    expect(after.every((row) => row.pruned_at instanceof Date)).toBe(true);
    expect(after.map((row) => [row.seq, row.header_jcs, row.leaf_hash, row.chain_hash])).toEqual(before.old.map((row) => [row.seq, row.header_jcs, row.leaf_hash, row.chain_hash]));
    expect(await closure(old.traceId)).toEqual(before.oldClosure);
    expect(await stepRows(recent.traceId)).toEqual(before.recent);
    expect(await stepRows(running.traceId)).toEqual(before.running);
    expect(before.recent[0].params).toMatchObject({ payload: { secret_plan: "Ada" } });

    const proof = await getRunProof(db, config, tenant, old.runId);
    expect(proof).toMatchObject({ verification_status: "VERIFIED", chain_length: 4, step_count: 3, pruned_steps: 3, signature_valid: true, failure_reason: null });
    const shown = capture();
    printProof(shown, proof);
    expect(shown.lines[0]).toBe(`Proof for run ${old.runId}: ${PRUNED_WORDING}`);
    expect(await getRunProof(db, config, tenant, recent.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 0 });
    expect(await getRunProof(db, config, tenant, running.runId)).toMatchObject({ verification_status: "INCOMPLETE", pruned_steps: 0 });
    // A pruned step's header is still a signed leaf: it can be proven alone, as can the run's end.
    expect(await proveStep(db, config, tenant, old.runId, 1)).toContain(`aos.local/run/${old.runId}`);
    expect(await proveStep(db, config, tenant, old.runId, 3)).toContain(`aos.local/run/${old.runId}`);
  });

  it("leaves a run whose proof fails whole, reports it, and its proof stays TAMPERED", async () => {
    const tenant = "t-ret-refuse";
    const edited = await finishedRun(tenant, 40);
    const payload = await finishedRun(tenant, 40);
    const honest = await finishedRun(tenant, 40);
    await asSuperuser(db, ["update runs set goal = 'something else' where id = $1", [edited.runId]]);
    // The edit pruning would erase: a payload changed (its bytes and copy), which only its hash still contradicts.
    await asSuperuser(db, [
      `update aos_trace_steps set params_jcs = convert_to('{"payload":{"secret_plan":"Eve"}}', 'UTF8'), params = '{"payload":{"secret_plan":"Eve"}}' where trace_id = $1 and seq = 0`,
      [payload.traceId],
    ]);
    const beforeRows = await stepRows(payload.traceId);

    const report = await prune(tenant);
    expect(report).toMatchObject({ runs: 1, steps: 3 });
    expect(report.refused.map((run) => [run.run_id, run.verification_status]).sort()).toEqual(
      [
        [edited.runId, "TAMPERED"],
        [payload.runId, "TAMPERED"],
      ].sort(),
    );
    expect(report.refused.find((run) => run.run_id === payload.runId)?.failure_reason).toMatch(/seq 0: the params payload does not hash/);
    expect(await stepRows(payload.traceId)).toEqual(beforeRows);
    expect(await getRunProof(db, config, tenant, payload.runId)).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
    expect(await getRunProof(db, config, tenant, honest.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 3 });
  });

  it("exports a pruned run's bundle with its headers and no payloads, which verifies offline with the pruned wording", async () => {
    const tenant = "t-ret-bundle";
    const old = await finishedRun(tenant, 31);
    await prune(tenant);
    const bundle = (await exportProofBundle(db, config, tenant, old.runId)) as ProofBundle;
    expect(bundle.format).toBe("aos-proof-bundle/v3");
    for (const step of bundle.steps) expect(step).toMatchObject({ params: null, outcome: null, error: null, header: expect.stringContaining('"kind":"step"') });
    // The payloads are gone; the plan, the run's definition (its params as planned, before interpolation), stays.
    expect(JSON.stringify(bundle.steps)).not.toContain("secret_plan");
    expect(await verifyBundle(tenant, old.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 3 });

    const verifiers = loadVerifiers(config);
    const changed = (change: (copy: ProofBundle) => void): VerdictJson => {
      const copy = structuredClone(bundle);
      change(copy);
      return verifyBundleText(JSON.stringify(copy), verifiers);
    };
    // Point 3 of the issue: a pruned step's status, cost, skill and decision are in its header, and stay proven.
    for (const [field, from, to] of [
      ["status", '"status":"failed"', '"status":"succeeded"'],
      ["cost", '"cost_cents":0', '"cost_cents":7'],
      ["skill", '"skill":"fail_trigger"', '"skill":"json_transform"'],
      ["decision", '"action":"allow"', '"action":"deny"'],
    ] as const) {
      expect([field, changed((b) => void (b.steps[2]!.header = b.steps[2]!.header.replace(from, to)))]).toEqual([field, expect.objectContaining({ verification_status: "TAMPERED", first_bad_seq: 2 })]);
    }
    // A payload put back that is not the one hashed is caught; so is a payload where the header records none.
    expect(changed((b) => void (b.steps[0]!.params = '{"payload":{"secret_plan":"Eve"}}'))).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0, field: "steps[0].params" });
    expect(changed((b) => void (b.steps[0]!.error = '{"code":"X"}'))).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0, field: "steps[0].error" });
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

  it("catches a tampered pruned row: its header, a stored hash, or a forged payload put back", async () => {
    const tenant = "t-ret-tamper";
    const cases: [string, string, number][] = [
      ["the header's status", `update aos_trace_steps set header_jcs = convert_to(replace(convert_from(header_jcs, 'UTF8'), '"status":"failed"', '"status":"succeeded"'), 'UTF8'), status = 'succeeded' where trace_id = $1 and seq = 2`, 2],
      ["the status copy", "update aos_trace_steps set status = 'succeeded' where trace_id = $1 and seq = 2", 2],
      ["leaf hash", "update aos_trace_steps set leaf_hash = repeat('0', 64) where trace_id = $1 and seq = 1", 1],
      ["chain hash", "update aos_trace_steps set chain_hash = repeat('0', 64) where trace_id = $1 and seq = 2", 2],
      ["payload put back", `update aos_trace_steps set pruned_at = null, params = '{"payload":{"secret_plan":"Eve"}}', params_jcs = convert_to('{"payload":{"secret_plan":"Eve"}}', 'UTF8') where trace_id = $1 and seq = 0`, 0],
    ];
    for (const [what, sql, seq] of cases) {
      const old = await finishedRun(tenant, 50);
      await prune(tenant);
      await asSuperuser(db, [sql, [old.traceId]]);
      const proof = await getRunProof(db, config, tenant, old.runId);
      expect([what, proof.verification_status, proof.first_bad_seq]).toEqual([what, "TAMPERED", seq]);
    }
    // A payload beside the pruned mark is refused even with triggers off: the check constraint still applies.
    const old = await finishedRun(tenant, 50);
    await prune(tenant);
    await expect(asSuperuser(db, [`update aos_trace_steps set params = '{"x": 1}' where trace_id = $1 and seq = 0`, [old.traceId]])).rejects.toMatchObject({
      code: "23514",
    });
  });

  it("keeps the trace append-only: the trigger refuses every update that is not a prune, and every delete", async () => {
    const tenant = "t-ret-trigger";
    const finished = await finishedRun(tenant, 1);
    const running = await runningRun(tenant);
    const refused = async (sql: string, traceId: string) =>
      expect(db.pool.query(sql, [traceId])).rejects.toThrow(/S6_IMMUTABILITY_VIOLATION: aos_trace_steps is append-only/);
    const PRUNE = "params = null, outcome_data = null, error = null, params_jcs = null, outcome_jcs = null, error_jcs = null, pruned_at = now()";
    await refused("update aos_trace_steps set cost_cents = cost_cents + 1 where trace_id = $1", finished.traceId);
    await refused(`update aos_trace_steps set ${PRUNE}, cost_cents = cost_cents + 1 where trace_id = $1`, finished.traceId);
    await refused(`update aos_trace_steps set ${PRUNE}, leaf_hash = repeat('0', 64) where trace_id = $1`, finished.traceId);
    await refused(`update aos_trace_steps set ${PRUNE}, header_jcs = header_jcs || ' '::bytea where trace_id = $1`, finished.traceId);
    await refused("update aos_trace_steps set outcome_data = null, error = null, pruned_at = now() where trace_id = $1", finished.traceId);
    await refused("update aos_trace_steps set params = null, outcome_data = null, error = null, pruned_at = now() where trace_id = $1", finished.traceId);
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
      await createRun(runnerDeps(db, config), { tenantId, goal: "once", plan, idempotencyKey: "order-1", requestHash: "a".repeat(64) });
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
