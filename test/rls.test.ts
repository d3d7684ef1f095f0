import { afterAll, beforeAll, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import { withTransaction } from "../src/db/database.js";
import { ownerDatabase, tenantScoped, withTenantReads } from "../src/db/tenant-scope.js";
import { createApiKey } from "../src/services/api-keys.js";
import { setPolicy } from "../src/services/policies.js";
import { getRunProof } from "../src/services/proofs.js";
import { approveRun } from "../src/services/run-decisions.js";
import { createRun, getRunDetail, listTenantRuns } from "../src/services/runs.js";
import type { RunDetail } from "../src/views/run.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { chainProblems, checkpointTenantLog, runnerDeps, runToEnd, testConfig } from "./support/harness.js";

// Row-level security (migration 0011) and the tenant-scoped database (src/db/tenant-scope.ts): a transaction as
// aos_tenant sees only the rows of the tenant in aos.tenant_id, and none without it; services run unchanged on a
// scoped database, a whole run included; nothing of the scope is left on a pooled connection.

const config = testConfig();

/** Every tenant table, and how a row names its tenant (trace steps through their trace). */
const TENANT_OF: Record<string, string> = {
  tenants: "x.id",
  agents: "x.tenant_id",
  runs: "x.tenant_id",
  aos_traces: "x.tenant_id",
  aos_trace_steps: "(select t.tenant_id from aos_traces t where t.trace_id = x.trace_id)",
  aos_checkpoints: "x.tenant_id",
  policies: "x.tenant_id",
  incidents: "x.tenant_id",
  prevention_records: "x.tenant_id",
  llm_run_records: "x.tenant_id",
  integrity_evidence: "x.tenant_id",
  provenance: "x.tenant_id",
  memories: "x.tenant_id",
  run_approvals: "x.tenant_id",
  tenant_daily_spend: "x.tenant_id",
  kv_store: "x.tenant_id",
  kv_idempotency: "x.tenant_id",
  calendar_events: "x.tenant_id",
  api_keys: "x.tenant_id",
  run_requests: "x.tenant_id",
  aos_tenant_log_pending: "x.tenant_id",
  aos_tenant_log_entries: "x.tenant_id",
  aos_tenant_log_nodes: "x.tenant_id",
  aos_tenant_logs: "x.tenant_id",
  aos_tenant_checkpoints: "x.tenant_id",
  aos_tenant_checkpoint_cosignatures: "x.tenant_id",
  aos_tenant_checkpoint_timestamps: "x.tenant_id",
};
const TENANT_TABLES = Object.keys(TENANT_OF).sort();

// One run that writes a row into every tenant table: a policy that parks it for approval (policies,
// run_approvals), kv_store (kv_store, kv_idempotency), calendar_write, llm_invoke (llm_run_records), a costed step
// (tenant_daily_spend), and the records every run leaves; its Idempotency-Key fills run_requests.
const EVERY_TABLE_PLAN = {
  steps: [
    { step_id: "shape", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } },
    { step_id: "remember", skill: "kv_store", params: { op: "set", key: "greeting", value: "hi" } },
    {
      step_id: "meet",
      skill: "calendar_write",
      params: { title: "Review", start: "2025-03-01T09:00:00+01:00", duration_minutes: 30, attendees: ["ada@example.com"] },
    },
    { step_id: "ask", skill: "llm_invoke", params: { provider: "local", messages: [{ role: "user", content: "hello" }], max_tokens: 16 } },
    { step_id: "spend", skill: "fail_trigger", params: { fail_times: 0, cost_cents: 2 } },
  ],
};

/** Through `db` alone (owner or scoped): policy, API key, a run parked for approval, approved and finished. */
async function fillEveryTable(db: Database, tenantId: string): Promise<RunDetail> {
  await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
  await createApiKey(db, { tenantId, name: "seed" });
  const run = await createRun(runnerDeps(db, config), { tenantId, goal: "touch every table", plan: EVERY_TABLE_PLAN, idempotencyKey: "seed" });
  await claimAndExecute(runnerDeps(db, config), run.id, "rls-worker");
  expect((await getRunDetail(db, config, tenantId, run.id)).run.status).toBe("pending_approval");
  await approveRun(db, runnerDeps(db, config).keys, tenantId, run.id, "alice");
  await claimAndExecute(runnerDeps(db, config), run.id, "rls-worker");
  // The tenant's log: the run integrated under a checkpoint (the sequencer works as the owner, whatever the scope),
  // a witness's and a TSA's rows beside it (their content is not what this file tests), and a run still queued.
  await checkpointTenantLog(db, config, tenantId);
  const owner = ownerDatabase(db).pool;
  await owner.query("insert into aos_tenant_checkpoint_cosignatures (tenant_id, tree_size, witness, signature_line) values ($1, 1, 'w+00000000', $2)", [tenantId, `\u2014 w ${Buffer.alloc(76).toString("base64")}\n`]);
  await owner.query("insert into aos_tenant_checkpoint_timestamps (tenant_id, tree_size, token) values ($1, 1, '\\x00')", [tenantId]);
  const queued = await createRun(runnerDeps(db, config), { tenantId, goal: "queued for the log", plan: { steps: [EVERY_TABLE_PLAN.steps[0]!] } });
  await claimAndExecute(runnerDeps(db, config), queued.id, "rls-worker");
  return getRunDetail(db, config, tenantId, run.id);
}

/** A raw count as aos_tenant, on the owner's pool, with or without the tenant setting, as a forgetful query would. */
async function countAsTenantRole(db: Database, table: string, tenantId?: string): Promise<number> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local role aos_tenant");
    if (tenantId !== undefined) await client.query("select set_config('aos.tenant_id', $1::text, true)", [tenantId]);
    const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from ${table}`);
    return rows[0]?.n ?? -1;
  } finally {
    await client.query("rollback");
    client.release();
  }
}

async function ownerCount(db: Database, table: string, tenantId: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from ${table} x where ${TENANT_OF[table]} = $1::text`, [tenantId]);
  return rows[0]?.n ?? -1;
}

describeOnBackends("row-level security on $name", (backend) => {
  let db: TestDatabase;
  let scopedA: Database;
  let detailA: RunDetail;
  const [A, B] = [`rls-a-${backend.name}`, `rls-b-${backend.name}`];

  beforeAll(async () => {
    db = await backend.open();
    scopedA = tenantScoped(db, A);
    detailA = await fillEveryTable(scopedA, A);
    await fillEveryTable(db, B);
  });
  afterAll(async () => db?.close());

  it("covers every table with a tenant_id, and every table aos_tenant may write, with RLS and a policy", async () => {
    const { rows } = await db.pool.query<{ relname: string; rls: boolean; forced: boolean; policies: number }>(
      `select c.relname, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
  (select count(*)::int from pg_policies p where p.schemaname = 'public' and p.tablename = c.relname) as policies
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
  and (exists (select 1 from information_schema.columns k where k.table_schema = 'public' and k.table_name = c.relname and k.column_name = 'tenant_id')
    or has_table_privilege('aos_tenant', c.oid, 'insert') or has_table_privilege('aos_tenant', c.oid, 'update')
    or has_table_privilege('aos_tenant', c.oid, 'delete'))
order by c.relname`,
    );
    expect(rows.map((row) => row.relname)).toEqual(TENANT_TABLES);
    expect(rows.filter((row) => !row.rls || row.forced || row.policies !== 1)).toEqual([]);
    const readable = await db.pool.query<{ relname: string }>(
      `select relname from pg_class
where relnamespace = 'public'::regnamespace and relkind = 'r' and has_table_privilege('aos_tenant', oid, 'select')
  and not relrowsecurity
order by relname`,
    );
    // workers holds no tenant data; aos_migrations is not granted at all.
    expect(readable.rows.map((row) => row.relname)).toEqual(["workers"]);
  });

  it("a whole run created, approved and executed through the scoped database succeeds and verifies", async () => {
    expect(detailA.run.status).toBe("succeeded");
    expect(detailA.steps.filter((step) => step.status === "succeeded").map((step) => step.stepId)).toEqual(["shape", "remember", "meet", "ask", "spend"]);
    expect(chainProblems(detailA)).toEqual([]);
    expect(detailA.incident).toMatchObject({ outcome: "SUCCESS" });
    expect(detailA.llm).toBeDefined();
    expect((await getRunProof(scopedA, config, A, detailA.run.id)).verification_status).toBe("VERIFIED");
    // The running_runs counter the trigger keeps went up and down again under aos_tenant.
    const { rows } = await db.pool.query("select running_runs, spent_cents from agents where id = $1", [detailA.run.agentId]);
    expect(rows[0]).toEqual({ running_runs: 0, spent_cents: "2" });
  });

  it.each(TENANT_TABLES)("%s: a raw query as aos_tenant sees 0 rows without the setting, only tenant A's with it", async (table) => {
    const [ownA, ownB] = [await ownerCount(db, table, A), await ownerCount(db, table, B)];
    expect(ownA).toBeGreaterThan(0);
    expect(ownB).toBeGreaterThan(0);
    expect(await countAsTenantRole(db, table)).toBe(0);
    expect(await countAsTenantRole(db, table, A)).toBe(ownA);
    expect(await countAsTenantRole(db, table, "no-such-tenant")).toBe(0);
    const scoped = await scopedA.pool.query<{ n: number }>(`select count(*)::int as n from ${table}`);
    expect(scoped.rows[0]?.n).toBe(ownA);
  });

  it("through the scoped database, queries without a tenant filter count only A's rows, and B's rows cannot be written", async () => {
    const owner = await db.pool.query<{ n: number }>("select count(*)::int as n from runs where tenant_id in ($1, $2)", [A, B]);
    const scoped = await scopedA.pool.query<{ n: number }>("select count(*)::int as n from runs");
    expect(scoped.rows[0]?.n).toBe(await ownerCount(db, "runs", A));
    expect(owner.rows[0]?.n).toBeGreaterThan(scoped.rows[0]?.n ?? 0);
    expect(await listTenantRuns(scopedA, B)).toEqual([]);
    await expect(getRunDetail(scopedA, config, B, (await listTenantRuns(db, B))[0]!.id)).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });

    await expect(scopedA.pool.query("insert into tenants (id, name) values ($1, $1)", [`${B}-new`])).rejects.toMatchObject({ code: "42501" });
    await expect(scopedA.pool.query("update runs set goal = 'stolen' where tenant_id = $1", [B])).resolves.toMatchObject({ rowCount: 0 });
    await expect(scopedA.pool.query("update runs set tenant_id = $1 where id = $2", [B, detailA.run.id])).rejects.toMatchObject({ code: "42501" });
    await expect(
      withTransaction(scopedA, (client) => client.query("insert into kv_store (tenant_id, namespace, key, value) values ($1, 'n', 'k', '1')", [B])),
    ).rejects.toMatchObject({ code: "42501" });
    await expect(createRun(runnerDeps(scopedA, config), { tenantId: B, goal: "cross tenant", plan: EVERY_TABLE_PLAN })).rejects.toMatchObject({ code: "42501" });
    expect(await ownerCount(db, "tenants", `${B}-new`)).toBe(0);
  });

  it("a read session sees the tenant's rows in one read-only transaction and can write nothing", async () => {
    const runs = await withTenantReads(db, A, async (session) => (await session.pool.query<{ n: number }>("select count(*)::int as n from runs")).rows[0]?.n);
    expect(runs).toBe(await ownerCount(db, "runs", A));
    await expect(withTenantReads(db, A, (session) => session.pool.query("update runs set goal = 'changed' where tenant_id = $1", [A]))).rejects.toMatchObject({ code: "25006" });
    await expect(withTenantReads(db, A, (session) => session.pool.connect())).rejects.toMatchObject({ code: "INTERNAL" });
  });

  it("leaves nothing on the pooled connection: role and tenant end with each transaction", async () => {
    const session = "select current_user as role, coalesce(current_setting('aos.tenant_id', true), '') as tenant";
    const inside = await scopedA.pool.query(session);
    expect(inside.rows[0]).toEqual({ role: "aos_tenant", tenant: A });

    const client = await scopedA.pool.connect();
    try {
      expect((await client.query(session)).rows[0]).toEqual({ role: "aos_tenant", tenant: A });
      await client.query("begin");
      await client.query("savepoint s");
      await expect(client.query("select * from no_such_table")).rejects.toMatchObject({ code: "42P01" });
      await client.query("rollback to savepoint s");
      expect((await client.query(session)).rows[0]).toEqual({ role: "aos_tenant", tenant: A });
      await client.query("commit");
    } finally {
      client.release();
    }
    await expect(scopedA.pool.query("select * from no_such_table")).rejects.toMatchObject({ code: "42P01" });

    // A client released inside its transaction is rolled back before anyone else gets the connection.
    const abandoned = await scopedA.pool.connect();
    await abandoned.query("begin");
    await abandoned.query("insert into kv_store (tenant_id, namespace, key, value) values ($1, 'n', 'abandoned', '1')", [A]);
    abandoned.release();
    expect((await db.pool.query("select count(*)::int as n from kv_store where key = 'abandoned'")).rows).toEqual([{ n: 0 }]);

    for (let i = 0; i < 4; i += 1) {
      expect((await db.pool.query(session)).rows[0]).toEqual({ role: "postgres", tenant: "" });
    }
    expect((await db.pool.query<{ n: number }>("select count(*)::int as n from runs")).rows[0]?.n).toBeGreaterThan(await ownerCount(db, "runs", A));
  });

  it("closing the scoped database leaves the owner's open", async () => {
    const scoped = tenantScoped(db, A);
    await scoped.close();
    await scoped.pool.end();
    expect((await db.pool.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    expect((await scoped.pool.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    expect(() => tenantScoped(db, " ")).toThrow(expect.objectContaining({ code: "TENANT_REQUIRED" }));
  });

  it("runs a plain run end to end through a second tenant's scope too", async () => {
    const C = `rls-c-${backend.name}`;
    const detail = await runToEnd(tenantScoped(db, C), config, { tenantId: C, goal: "plain", plan: { steps: [EVERY_TABLE_PLAN.steps[0]!] } });
    expect(detail.run.status).toBe("succeeded");
    expect(await countAsTenantRole(db, "runs", C)).toBe(1);
  });
});
