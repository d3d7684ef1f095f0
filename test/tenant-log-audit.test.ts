import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { witnessedSize } from "../src/db/queries/tenant-checkpoints.js";
import { silentLogger } from "../src/logger.js";
import { getRunProof } from "../src/services/proofs.js";
import { createRun } from "../src/services/runs.js";
import { integrateTenantLog } from "../src/tenant-log/integrate.js";
import { PENDING_GRACE_MS } from "../src/tenant-log/run-inclusion.js";
import { sequencerDeps } from "../src/tenant-log/sequencer.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { auditTenantLog, backfillTenantLog, latestCheckpointNote } from "../src/services/tenant-log.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { leafHashOf, merkleRoot } from "../src/trace/merkle.js";
import { generateSigningKey, parseSignerKey } from "../src/trace/signed-note.js";
import { signTenantCheckpoint, tenantLogOrigin } from "../src/trace/tenant-checkpoint.js";
import { encodeTenantLogEntry, parseTenantLogEntry } from "../src/trace/tenant-log-entry.js";
import { runCli, tempHome, writePlan } from "./support/cli.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { checkpointTenantLog, runnerDeps, runToEnd, testConfig } from "./support/harness.js";
import { asSuperuser } from "./support/tamper.js";
import { tempDir } from "./support/temp-dirs.js";

const PLAN = { steps: [{ step_id: "a", skill: "json_transform", params: { payload: { x: 1 }, mapping: { x: "x" } } }] };

describeOnBackends("auditing a tenant's log against the database ($name)", (backend) => {
  const config = testConfig({ AOS_TENANT_CHECKPOINT_EVERY: "1000", AOS_TENANT_CHECKPOINT_INTERVAL_MS: "3600000" });
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  async function tenantWithRuns(tenantId: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await runToEnd(db, config, { tenantId, goal: `run ${i}`, plan: PLAN })).run.id);
    await checkpointTenantLog(db, config, tenantId);
    return ids;
  }

  const kinds = async (tenantId: string, since?: string) => (await auditTenantLog(db, config, tenantId, since)).problems.map((p) => ("run_id" in p ? `${p.kind} ${p.run_id}` : p.kind));

  it("is clean for an untouched log, and holds every signed checkpoint and the nodes to the entries", async () => {
    await tenantWithRuns("t-audit-clean", 4);
    const report = await auditTenantLog(db, config, "t-audit-clean", (await latestCheckpointNote(db, "t-audit-clean")).note);
    expect(report).toMatchObject({ tree_size: 4, runs_checked: 4, checkpoints_checked: 4, since: { tree_size: 4, consistent: true }, problems: [] });
  });

  it("names a run deleted whole — trace, steps, checkpoint and run row — as missing", async () => {
    const [, victim] = await tenantWithRuns("t-audit-deleted", 3);
    await asSuperuser(
      db,
      ["delete from aos_trace_steps where trace_id = $1", [`trace_${victim}`]],
      ["delete from aos_traces where run_id = $1", [victim]],
      ["delete from aos_checkpoints where run_id = $1", [victim]],
      ["delete from runs where id = $1", [victim]],
    );
    expect(await kinds("t-audit-deleted")).toEqual([`missing ${victim}`]);
  });

  it("names a run whose facts changed, and one re-ended with a second signed checkpoint, as changed", async () => {
    const [a, b] = await tenantWithRuns("t-audit-changed", 2);
    await asSuperuser(db, ["update runs set status = 'failed' where id = $1", [a]]);
    expect(await kinds("t-audit-changed")).toEqual([`changed ${a}`]);
    await asSuperuser(db, ["update runs set status = 'succeeded' where id = $1", [a]]);
    // b's checkpoint row says another root than its note and its log entry.
    await asSuperuser(db, ["update aos_checkpoints set merkle_root = $2 where run_id = $1", [b, "0".repeat(64)]]);
    expect(await kinds("t-audit-changed")).toEqual([`changed ${b}`]);
  });

  it("names a signed run its log never got as unlogged", async () => {
    await tenantWithRuns("t-audit-unlogged", 1);
    const deps = { tenantId: "t-audit-unlogged", goal: "slipped past", plan: PLAN };
    // The queued entry is deleted before the sequencer sees it (runToEnd integrates, so end it by hand here).
    const run = await createRun(runnerDeps(db, config), deps);
    await claimAndExecute(runnerDeps(db, config), run.id, "w");
    await db.pool.query("delete from aos_tenant_log_pending where run_id = $1", [run.id]);
    expect(await kinds("t-audit-unlogged")).toEqual([`unlogged ${run.id}`]);
  });

  it("catches the key holder rewriting the log and re-signing it, against a checkpoint kept earlier", async () => {
    const tenant = "t-audit-rewritten";
    await tenantWithRuns(tenant, 3);
    const kept = (await latestCheckpointNote(db, tenant)).note;
    // Rewrite entry 1 (say its run failed), recompute every node and the head, and sign a new checkpoint with the key.
    const { rows } = await db.pool.query("select idx::int as idx, entry from aos_tenant_log_entries where tenant_id = $1 order by idx", [tenant]);
    const entries: Buffer[] = rows.map((row: { entry: Buffer }) => row.entry);
    const parsed = parseTenantLogEntry(entries[1]!);
    if (!parsed.ok) throw new Error("entry does not parse");
    entries[1] = encodeTenantLogEntry({ ...parsed.value, status: "failed" });
    const leaves = entries.map((entry) => leafHashOf(entry));
    const root = merkleRoot(leaves);
    const keys = loadKeyRing(config);
    const note = signTenantCheckpoint({ origin: tenantLogOrigin(keys.signer.name, tenant), treeSize: 3, root }, keys.signer);
    await asSuperuser(
      db,
      ["update aos_tenant_log_entries set entry = $2 where tenant_id = $1 and idx = 1", [tenant, entries[1]]],
      ["update aos_tenant_log_nodes set hash = $2 where tenant_id = $1 and level = 0 and idx = 1", [tenant, leaves[1]]],
      ["update aos_tenant_log_nodes set hash = $2 where tenant_id = $1 and level = 1 and idx = 0", [tenant, merkleRoot(leaves.slice(0, 2))]],
      ["update aos_tenant_logs set root = $2 where tenant_id = $1", [tenant, root]],
      ["delete from aos_tenant_checkpoints where tenant_id = $1", [tenant]],
      ["insert into aos_tenant_checkpoints (tenant_id, tree_size, root, note) values ($1, 3, $2, $3)", [tenant, root, note]],
    );
    const report = await auditTenantLog(db, config, tenant, kept);
    expect(report.since).toEqual({ tree_size: 3, consistent: false });
    expect(report.problems.map((p) => p.kind)).toContain("log");
    // The run itself says its entry is not what its trace implies.
    expect(report.problems.some((p) => p.kind === "changed")).toBe(true);
  });
});

describeOnBackends("what no database row can exempt or wedge ($name)", (backend) => {
  const config = testConfig({ AOS_TENANT_CHECKPOINT_EVERY: "1000", AOS_TENANT_CHECKPOINT_INTERVAL_MS: "3600000" });
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  /** Ends a run without the sequencer seeing it: its entry stays queued. */
  async function endedUnintegrated(tenantId: string, goal: string): Promise<string> {
    const run = await createRun(runnerDeps(db, config), { tenantId, goal, plan: PLAN });
    await claimAndExecute(runnerDeps(db, config), run.id, "w");
    return run.id;
  }

  it("a signed run without its entry is TAMPERED and unlogged, whatever aos_migrations says; `aos log backfill` logs it once it verifies", async () => {
    const tenant = "t-no-exemption";
    const ids = [await endedUnintegrated(tenant, "a"), await endedUnintegrated(tenant, "b")];
    await db.pool.query("delete from aos_tenant_log_pending where tenant_id = $1", [tenant]);
    // The log "began" after these runs, as a database writer could claim: it changes nothing.
    await db.pool.query("update aos_migrations set applied_at = now() + interval '1 day' where id = 13");
    expect(await getRunProof(db, config, tenant, ids[0]!)).toMatchObject({ verification_status: "TAMPERED", field: "aos_tenant_log_entries" });
    expect(await kinds(tenant)).toEqual(ids.map((id) => `unlogged ${id}`));
    await asSuperuser(db, ["update aos_trace_steps set params = '{\"tampered\": true}' where trace_id = $1", [`trace_${ids[1]}`]]);
    const report = await backfillTenantLog(db, config, tenant);
    expect(report.queued).toEqual([ids[0]]);
    expect(report.refused).toEqual([{ run_id: ids[1], reason: expect.stringMatching(/^TAMPERED/) }]);
    await checkpointTenantLog(db, config, tenant);
    expect(await getRunProof(db, config, tenant, ids[0]!)).toMatchObject({ verification_status: "VERIFIED", tenant_log: { state: "included", index: 0 } });
    expect(await kinds(tenant)).toEqual([`unlogged ${ids[1]}`]);
  });

  it("an entry kept from the log past the grace — a planted node in the sequencer's way, a held lock — makes the proof INCOMPLETE and the audit say so", async () => {
    const tenant = "t-wedged";
    await tenantWithRuns(tenant, 1);
    // A node where the next leaf goes: every round of the sequencer now fails on it.
    await asSuperuser(db, ["insert into aos_tenant_log_nodes (tenant_id, level, idx, hash) values ($1, 0, 1, $2)", [tenant, Buffer.alloc(32)]]);
    const stuck = await endedUnintegrated(tenant, "stuck");
    await expect(integrateTenantLog(db, sequencerDeps(db, config, loadKeyRing(config), silentLogger), tenant)).rejects.toThrow();
    expect(await getRunProof(db, config, tenant, stuck)).toMatchObject({ verification_status: "VERIFIED", tenant_log: { state: "pending" } });
    // Past the grace, as if it had ended two minutes ago: not VERIFIED any more.
    await db.pool.query("update aos_tenant_log_pending set created_at = now() - interval '2 minutes' where run_id = $1", [stuck]);
    const later = Date.now() + 2 * PENDING_GRACE_MS;
    const proof = await withClockAt(later, () => getRunProof(db, config, tenant, stuck));
    expect(proof).toMatchObject({ verification_status: "INCOMPLETE", field: "aos_tenant_log_pending" });
    const problems = (await auditTenantLog(db, config, tenant, undefined)).problems.map((p) => p.detail);
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^node 0\/1 lies past the log's head/), expect.stringMatching(/waited more than 60 s to be integrated/)]));
  });

  it("a cosignature row from the future stops no witness from being asked, and the audit names it", async () => {
    const tenant = "t-future-cosignature";
    await tenantWithRuns(tenant, 1);
    await asSuperuser(db, ["insert into aos_tenant_checkpoint_cosignatures (tenant_id, tree_size, witness, signature_line) values ($1, 9000000000000, 'w.example+01020304', 'x')", [tenant]]);
    expect(await witnessedSize(db.pool, tenant, "w.example+01020304", 1)).toBe(0);
    expect((await auditTenantLog(db, config, tenant, undefined)).problems.map((p) => p.detail)).toEqual([expect.stringMatching(/^a cosignature by w\.example\+01020304 at size 9000000000000 lies past/)]);
  });

  async function tenantWithRuns(tenantId: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) await runToEnd(db, config, { tenantId, goal: `run ${i}`, plan: PLAN });
    await checkpointTenantLog(db, config, tenantId);
  }
  const kinds = async (tenantId: string) => (await auditTenantLog(db, config, tenantId, undefined)).problems.map((p) => ("run_id" in p ? `${p.kind} ${p.run_id}` : p.kind));
});

/** Runs `work` with Date.now() (and new Date()) at `at`, timers untouched. */
async function withClockAt<T>(at: number, work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(at);
  try {
    return await work();
  } finally {
    vi.useRealTimers();
  }
}

describe("`aos log` and `aos audit` as a user runs them", () => {
  it("keeps a checkpoint, proves the next extends it, audits clean, and refuses a fork signed with the log's own key", { timeout: 120_000 }, async () => {
    const home = tempHome();
    const env = { AOS_HOME: home, DATABASE_URL: "", AOS_TENANT_CHECKPOINT_INTERVAL_MS: "0" };
    const dir = tempDir("aos-log-cli");
    const [oldFile, newFile, forkFile] = ["old", "new", "fork"].map((name) => join(dir, `${name}.checkpoint`)) as [string, string, string];
    const plan = writePlan(dir, PLAN);
    expect((await runCli(["run", "--tenant-id", "acme", "--goal", "first", "--plan", plan], env)).code).toBe(0);
    expect((await runCli(["log", "checkpoint", "--tenant-id", "acme", "-o", oldFile], env)).stdout).toMatch(/^aos\.local\/tenant\/acme\n1\n/);
    expect((await runCli(["run", "--tenant-id", "acme", "--goal", "second", "--plan", plan], env)).code).toBe(0);
    expect((await runCli(["log", "checkpoint", "--tenant-id", "acme", "-o", newFile], env)).code).toBe(0);
    const consistent = await runCli(["log", "consistency", oldFile, newFile], env);
    expect(consistent).toMatchObject({ code: 0 });
    expect(consistent.stdout).toMatch(/CONSISTENT, 1 → 2 entries/);
    // Offline, from an export of the log's tiles: no database, and only the key pinned.
    const tiles = join(dir, "tiles");
    expect((await runCli(["log", "export-tiles", "--tenant-id", "acme", "-o", tiles], env)).code).toBe(0);
    const vkey = (await runCli(["keys"], env)).stdout.trim();
    const offline = await runCli(["log", "consistency", oldFile, newFile, "--tiles", tiles, "--key", vkey], { AOS_HOME: tempHome(), DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" });
    expect(offline.stdout).toMatch(/CONSISTENT, 1 → 2 entries/);
    expect(offline.code).toBe(0);
    const audit = await runCli(["audit", "--tenant-id", "acme", "--since", oldFile, "--json"], env);
    expect(audit.code).toBe(0);
    expect(JSON.parse(audit.stdout)).toMatchObject({ tree_size: 2, runs_checked: 2, since: { tree_size: 1, consistent: true }, problems: [] });
    // The operator signs a second, different checkpoint of size 2 with the log's own key: a fork.
    const signer = parseSignerKey(readFileSync(join(home, "keys", "signing.key"), "utf8").trim());
    if (!signer.ok) throw new Error(signer.reason);
    writeFileSync(forkFile, signTenantCheckpoint({ origin: "aos.local/tenant/acme", treeSize: 2, root: leafHashOf(Buffer.from("another history")) }, signer.key));
    const fork = await runCli(["log", "consistency", newFile, forkFile], env);
    expect(fork.code).toBe(1);
    expect(fork.stdout).toMatch(/NOT CONSISTENT[\s\S]*forked/);
    const fromOld = await runCli(["log", "consistency", oldFile, forkFile, "--json"], env);
    expect(fromOld.code).toBe(1);
    expect(JSON.parse(fromOld.stdout)).toMatchObject({ consistent: false, old_size: 1, new_size: 2 });
    // A checkpoint nobody trusted signed is refused before anything is compared.
    const stranger = generateSigningKey("aos.local");
    writeFileSync(forkFile, signTenantCheckpoint({ origin: "aos.local/tenant/acme", treeSize: 2, root: leafHashOf(Buffer.from("x")) }, stranger.signer));
    const untrusted = await runCli(["log", "consistency", oldFile, forkFile], env);
    expect(untrusted.code).toBe(2);
    expect(untrusted.stderr).toMatch(/not a tenant checkpoint a trusted key signed/);
  });
});
