import { afterAll, beforeAll, expect, it } from "vitest";
import { readTreeHead } from "../src/db/queries/tenant-log.js";
import { latestTenantCheckpoint, listTenantCheckpoints } from "../src/db/queries/tenant-checkpoints.js";
import { silentLogger } from "../src/logger.js";
import { inclusionProofFromStore, consistencyProofFromStore } from "../src/tenant-log/node-store.js";
import { integrateTenantLog } from "../src/tenant-log/integrate.js";
import { TenantLogSequencer } from "../src/tenant-log/sequencer.js";
import { attest } from "../src/trace/attestation.js";
import { sha256Hex } from "../src/trace/digest.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { leafHashOf, merkleRoot, verifyConsistency, verifyInclusion } from "../src/trace/merkle.js";
import { openTenantCheckpoint, tenantLogOrigin } from "../src/trace/tenant-checkpoint.js";
import { encodeTenantLogEntry, parseTenantLogEntry, type TenantLogEntry } from "../src/trace/tenant-log-entry.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";
import { createRun } from "../src/services/runs.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { asSuperuser } from "./support/tamper.js";

const PLAN = { steps: [{ step_id: "a", skill: "json_transform", params: { payload: { x: 1 }, mapping: { x: "x" } } }] };

describeOnBackends("the tenant log ($name)", (backend) => {
  const config = testConfig({ AOS_TENANT_CHECKPOINT_EVERY: "1000", AOS_TENANT_CHECKPOINT_INTERVAL_MS: "3600000" });
  let db: TestDatabase;
  let keys: ReturnType<typeof loadKeyRing>;
  const deps = () => ({ keys, log: silentLogger, cadence: { every: config.tenantCheckpointEvery, intervalMs: config.tenantCheckpointIntervalMs } });
  beforeAll(async () => {
    db = await backend.open();
    keys = loadKeyRing(config);
  });
  afterAll(async () => db?.close());

  async function finish(tenantId: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    // Ended as a worker ends them, then integrated by a sequencer that keeps to the cadence (runToEnd would settle).
    for (let i = 0; i < count; i++) {
      const run = await createRun(runnerDeps(db, config), { tenantId, goal: `run ${i}`, plan: PLAN });
      await claimAndExecute(runnerDeps(db, config), run.id, "w");
      ids.push(run.id);
    }
    await new TenantLogSequencer(db, deps()).drain(tenantId);
    return ids;
  }

  async function entries(tenantId: string): Promise<{ idx: number; run_id: string; entry: Buffer }[]> {
    const { rows } = await db.pool.query("select idx::int as idx, run_id, entry from aos_tenant_log_entries where tenant_id = $1 order by idx", [tenantId]);
    return rows;
  }

  it("integrates every finished run once, at consecutive indices, as its signed checkpoint states it", async () => {
    const runIds = await finish("t-log-a", 5);
    const logged = await entries("t-log-a");
    expect(logged.map((row) => row.idx)).toEqual([0, 1, 2, 3, 4]);
    expect(logged.map((row) => row.run_id)).toEqual(runIds);
    const { rows: pending } = await db.pool.query("select count(*)::int as n from aos_tenant_log_pending");
    expect(pending[0].n).toBe(0);
    for (const row of logged) {
      const entry = parseTenantLogEntry(row.entry);
      expect(entry.ok).toBe(true);
      const { rows } = await db.pool.query("select tree_size, merkle_root, chain_head from aos_checkpoints where run_id = $1", [row.run_id]);
      expect(entry.ok && entry.value).toMatchObject({ run_id: row.run_id, tenant_id: "t-log-a", status: "succeeded", tree_size: rows[0].tree_size, merkle_root: rows[0].merkle_root, chain_head: rows[0].chain_head });
    }
    const head = await readTreeHead(db.pool, "t-log-a");
    expect(head.treeSize).toBe(5);
    expect(head.root.equals(merkleRoot(logged.map((row) => leafHashOf(row.entry))))).toBe(true);
  });

  it("signs the first checkpoint at once and later ones by the cadence; each is consistent with the one before and proves every entry", async () => {
    // The log's first integration got a checkpoint at once (there was none); the cadence holds the next back.
    expect((await latestTenantCheckpoint(db.pool, "t-log-a"))?.treeSize).toBe(5);
    await finish("t-log-a", 3);
    expect((await latestTenantCheckpoint(db.pool, "t-log-a"))?.treeSize).toBe(5);
    const forced = await integrateTenantLog(db, deps(), "t-log-a", { forceCheckpoint: true });
    expect(forced).toMatchObject({ status: "done", treeSize: 8, signed: { treeSize: 8 } });
    const all = await listTenantCheckpoints(db.pool, "t-log-a");
    expect(all.map((c) => c.treeSize)).toEqual([5, 8]);
    const origin = tenantLogOrigin(keys.signer.name, "t-log-a");
    const [older, newer] = all.map((c) => openTenantCheckpoint(c.note, keys.verifiers, { origin }));
    if (!older?.ok || !newer?.ok) throw new Error("checkpoints do not open");
    const proof = await consistencyProofFromStore(db.pool, "t-log-a", 5, 8);
    expect(verifyConsistency(5, 8, older.checkpoint.root, newer.checkpoint.root, proof)).toBe(true);
    for (const row of await entries("t-log-a")) {
      const path = await inclusionProofFromStore(db.pool, "t-log-a", row.idx, 8);
      expect(verifyInclusion(leafHashOf(row.entry), row.idx, 8, path, newer.checkpoint.root)).toBe(true);
    }
    // Nothing new: no checkpoint, even when forced.
    expect(await integrateTenantLog(db, deps(), "t-log-a", { forceCheckpoint: true })).toMatchObject({ status: "done", integrated: 0, signed: undefined });
  });

  it("keeps tenants' logs apart", async () => {
    await finish("t-log-b", 2);
    expect((await entries("t-log-b")).map((row) => row.idx)).toEqual([0, 1]);
    expect((await readTreeHead(db.pool, "t-log-a")).treeSize).toBe(8);
  });

  it("refuses a queued entry nobody with the key wrote, and one that names another tenant", async () => {
    const [runId] = await finish("t-log-c", 1);
    const forged = (status: TenantLogEntry["status"], tenant: string): TenantLogEntry => ({
      kind: "tenant_log_entry",
      format: "aos-trace-v2",
      tenant_id: tenant,
      run_id: runId!,
      status,
      completed_at: new Date().toISOString(),
      tree_size: 2,
      merkle_root: "0".repeat(64),
      chain_head: "1".repeat(64),
    });
    // Queue forgeries under a run that ended but whose genuine entry a database writer deleted before integration.
    const other = (await runToEnd(db, config, { tenantId: "t-log-d", goal: "unlogged", plan: PLAN })).run.id;
    await db.pool.query("delete from aos_tenant_log_pending where run_id = $1", [other]);
    const bytes = encodeTenantLogEntry({ ...forged("failed", "t-log-c"), run_id: other });
    const before = (await readTreeHead(db.pool, "t-log-c")).treeSize;
    await db.pool.query("insert into aos_tenant_log_pending (run_id, tenant_id, entry, attestation) values ($1, 't-log-c', $2, $3)", [other, bytes, `${keys.attestation.current.keyId}:${"ab".repeat(32)}`]);
    expect(await integrateTenantLog(db, deps(), "t-log-c")).toMatchObject({ status: "done", integrated: 0, refused: 1 });
    // Attested with the key, but naming another tenant than the log it was queued for.
    const misfiled = encodeTenantLogEntry({ ...forged("succeeded", "t-log-d"), run_id: other });
    await db.pool.query("insert into aos_tenant_log_pending (run_id, tenant_id, entry, attestation) values ($1, 't-log-c', $2, $3)", [other, misfiled, attest(keys.attestation.current, other, "tenant-log", sha256Hex(misfiled))]);
    expect(await integrateTenantLog(db, deps(), "t-log-c")).toMatchObject({ status: "done", integrated: 0, refused: 1 });
    expect((await readTreeHead(db.pool, "t-log-c")).treeSize).toBe(before);
  });

  it("refuses to sign a checkpoint over a stored tree that no longer extends the last signed one", async () => {
    await finish("t-log-e", 3);
    await integrateTenantLog(db, deps(), "t-log-e", { forceCheckpoint: true });
    // A database writer rewrites a stored leaf node and the head to match, then a new run arrives.
    const fake = leafHashOf(Buffer.from("rewritten"));
    await asSuperuser(db, ["update aos_tenant_log_nodes set hash = $1 where tenant_id = 't-log-e' and level = 0 and idx = 2", [fake]]);
    const { rows } = await db.pool.query("select level, idx::int as idx, hash from aos_tenant_log_nodes where tenant_id = 't-log-e' and level = 0 order by idx");
    const root = merkleRoot(rows.map((row: { hash: Buffer }) => row.hash));
    await asSuperuser(db, ["update aos_tenant_logs set root = $1 where tenant_id = 't-log-e'", [root]]);
    await asSuperuser(db, ["delete from aos_tenant_log_nodes where tenant_id = 't-log-e' and level > 0", []]);
    await asSuperuser(db, [
      "insert into aos_tenant_log_nodes (tenant_id, level, idx, hash) values ('t-log-e', 1, 0, $1)",
      [merkleRoot(rows.slice(0, 2).map((row: { hash: Buffer }) => row.hash))],
    ]);
    const runs = await db.pool.query("select count(*)::int as n from aos_tenant_checkpoints where tenant_id = 't-log-e'");
    const sequencer = new TenantLogSequencer(db, deps());
    await finish("t-log-e", 1);
    await sequencer.drain("t-log-e");
    await expect(integrateTenantLog(db, deps(), "t-log-e", { forceCheckpoint: true })).rejects.toThrow(/refusing to sign .* not consistent with the last signed checkpoint/);
    const after = await db.pool.query("select count(*)::int as n from aos_tenant_checkpoints where tenant_id = 't-log-e'");
    expect(after.rows[0].n).toBe(runs.rows[0].n);
  });
});
