import { randomUUID } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations, migrate } from "../src/db/migrate.js";
import { embeddedDatabase } from "../src/db/open-database.js";
import { AppError } from "../src/errors.js";
import { createAgent, findAgentByRef, listTenantAgents } from "../src/services/agents.js";
import { agentCapabilities } from "../src/services/capabilities.js";
import { setPolicy, showPolicy } from "../src/services/policies.js";
import { runtimeQuery } from "../src/services/runtime-query.js";
import { simulatePlan } from "../src/services/simulate.js";
import { type TestDatabase, describeOnBackends } from "./support/databases.js";
import { runToEnd, testConfig } from "./support/harness.js";

// Agents by name (docs/cli.md, "Agents"): a name is unique within its tenant, every verb that takes an agent's id
// takes its name too, a UUID is always an id, and another tenant's agent is not found by either.

const config = testConfig();
const transformPlan = { steps: [{ step_id: "pick", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }] };

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

describeOnBackends("agents by name on $name", (backend) => {
  let db: TestDatabase;
  const tenant = `names-${backend.name}`;
  const other = `names-other-${backend.name}`;

  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("a name is unique within its tenant, and the refusal names the agent that has it; another tenant may use it", async () => {
    const first = await createAgent(db, { tenantId: tenant, name: "billing-bot" });
    const error = await refusal(createAgent(db, { tenantId: tenant, name: "  billing-bot " }));
    expect(error).toMatchObject({ code: "AGENT_NAME_TAKEN", httpStatus: 409, details: { field: "name", agent_id: first.id } });
    expect(error.message).toBe(`tenant ${tenant} already has an agent called "billing-bot" (agent ${first.id})`);
    expect((await listTenantAgents(db, tenant)).filter((agent) => agent.name === "billing-bot")).toHaveLength(1);
    await expect(createAgent(db, { tenantId: other, name: "billing-bot" })).resolves.toMatchObject({ tenantId: other });
  });

  it("two agents created at once under one name: exactly one is created, the other is refused by name", async () => {
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => createAgent(db, { tenantId: tenant, name: "racer" })));
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    const refused = results.flatMap((result) => (result.status === "rejected" ? [result.reason as AppError] : []));
    expect(refused.map((error) => error.code)).toEqual(["AGENT_NAME_TAKEN", "AGENT_NAME_TAKEN", "AGENT_NAME_TAKEN"]);
  });

  it.each([
    ["default", "kept for the tenant's default agent"],
    [randomUUID(), "looks like an agent id"],
    [randomUUID().toUpperCase(), "looks like an agent id"],
    ["   ", "non-empty name"],
  ])("refuses the name %j: %s", async (name, reason) => {
    const error = await refusal(createAgent(db, { tenantId: tenant, name }));
    expect(error).toMatchObject({ code: "VALIDATION_ERROR", details: { field: "name" } });
    expect(error.message).toContain(reason);
  });

  it("every service that takes an agent's id takes its name, and resolves it within the caller's tenant only", async () => {
    const agent = await createAgent(db, { tenantId: tenant, name: "runner", budgetCents: 500 });
    const detail = await runToEnd(db, config, { tenantId: tenant, agentId: "runner", goal: "by name", plan: transformPlan });
    expect(detail.run).toMatchObject({ agentId: agent.id, status: "succeeded" });
    expect((await simulatePlan(db, config, { plan: transformPlan, tenantId: tenant, agentId: "runner" })).budget).toMatchObject({ source: "agent", agent_remaining_cents: 500 });
    expect((await agentCapabilities(db.pool, config, tenant, "runner")).agent.id).toBe(agent.id);
    const asked = await runtimeQuery(db.pool, config, "last_step_outcome", { tenantId: tenant, agentId: "runner", runId: detail.run.id });
    expect(asked).toMatchObject({ agent_id: agent.id, run_id: detail.run.id });
    const stored = await setPolicy(db, { tenantId: tenant, agentId: "runner", document: { allowed_skills: ["json_transform"] } });
    expect(stored.agentId).toBe(agent.id);
    expect((await showPolicy(db, tenant, "runner")).agent?.agentId).toBe(agent.id);

    await createAgent(db, { tenantId: other, name: "theirs" });
    for (const attempt of [
      () => runToEnd(db, config, { tenantId: tenant, agentId: "theirs", goal: "x", plan: transformPlan }),
      () => simulatePlan(db, config, { plan: transformPlan, tenantId: tenant, agentId: "theirs" }),
      () => agentCapabilities(db.pool, config, tenant, "theirs"),
      () => runtimeQuery(db.pool, config, "remaining_budget", { tenantId: tenant, agentId: "theirs" }),
      () => showPolicy(db, tenant, "theirs"),
    ]) {
      expect(await refusal(attempt())).toMatchObject({ code: "AGENT_NOT_FOUND", message: "Agent not found: theirs" });
    }
  });

  it("the default agent is named default once it exists", async () => {
    const detail = await runToEnd(db, config, { tenantId: tenant, goal: "default agent", plan: transformPlan });
    expect((await findAgentByRef(db.pool, tenant, "default"))?.id).toBe(detail.run.agentId);
  });

  it("a UUID is always an id: an agent whose name is UUID-shaped (made before names were checked) is found by its id only", async () => {
    const shaped = randomUUID();
    const id = randomUUID();
    await db.pool.query("insert into agents (id, tenant_id, name) values ($1::text, $2::text, $3::text)", [id, tenant, shaped]);
    expect(await findAgentByRef(db.pool, tenant, shaped)).toBeUndefined();
    expect((await findAgentByRef(db.pool, tenant, id))?.name).toBe(shaped);
  });

  it("an id that is also another agent's name (ids made outside AOS) is ambiguous: refused, naming both", async () => {
    const named = await createAgent(db, { tenantId: tenant, name: "legacy-7" });
    await db.pool.query("insert into agents (id, tenant_id, name) values ('legacy-7', $1::text, 'imported')", [tenant]);
    const error = await refusal(findAgentByRef(db.pool, tenant, "legacy-7"));
    expect(error).toMatchObject({ code: "VALIDATION_ERROR", details: { field: "agent_id", agent_ids: ["legacy-7", named.id] } });
  });
});

describe("migration 0015 on a database that already holds duplicate names", () => {
  it("keeps every agent and its id, renames all but the default or oldest of each name, and frees 'default' for the default agent", async () => {
    const db = embeddedDatabase(await PGlite.create(), "memory");
    try {
      const all = loadMigrations();
      const before = all.filter((migration) => migration.id < 15);
      await migrate(db, before);
      const insert = (id: string, tenant: string, name: string, at: string, isDefault = false) =>
        db.pool.query("insert into agents (id, tenant_id, name, created_at, is_default) values ($1::text, $2::text, $3::text, $4::timestamptz, $5::boolean)", [
          id,
          tenant,
          name,
          at,
          isDefault,
        ]);
      await db.pool.query("insert into tenants (id, name) values ('t1', 't1'), ('t2', 't2')");
      await insert("a-old", "t1", "bot", "2026-01-01T00:00:00Z");
      await insert("a-new", "t1", "bot", "2026-02-01T00:00:00Z");
      await insert("a-newer", "t1", "bot", "2026-03-01T00:00:00Z");
      await insert("b-t2", "t2", "bot", "2026-04-01T00:00:00Z");
      await insert("d-user", "t1", "default", "2025-01-01T00:00:00Z");
      await insert("d-real", "t1", "default", "2026-05-01T00:00:00Z", true);
      await insert("d-lonely", "t2", "default", "2026-05-01T00:00:00Z");

      expect(await migrate(db)).toEqual(all.filter((migration) => migration.id >= 15).map((migration) => migration.id));
      const { rows } = await db.pool.query<{ id: string; name: string }>("select id, name from agents order by id");
      expect(Object.fromEntries(rows.map((row) => [row.id, row.name]))).toEqual({
        "a-new": "bot (a-new)",
        "a-newer": "bot (a-newer)",
        "a-old": "bot",
        "b-t2": "bot",
        "d-lonely": "default (d-lonely)",
        "d-real": "default",
        "d-user": "default (d-user)",
      });
      await expect(db.pool.query("insert into agents (id, tenant_id, name) values ('x', 't1', 'bot')")).rejects.toMatchObject({ code: "23505" });
    } finally {
      await db.close();
    }
  }, 600_000); // a fresh embedded database runs initdb and every migration: minutes on a loaded machine
});
