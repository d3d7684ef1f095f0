import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { ApiMetrics } from "../src/api/metrics.js";
import type { buildApi } from "../src/api/server.js";
import type { Queryable } from "../src/db/database.js";
import { silentLogger } from "../src/logger.js";
import { createAgent } from "../src/services/agents.js";
import { createApiKey } from "../src/services/api-keys.js";
import { createRun } from "../src/services/runs.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { runCli, tempHome, writePlan } from "./support/cli.js";
import { type Contract, contractCheckedApi } from "./support/contract.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, testConfig, UNPLANNABLE_GOAL } from "./support/harness.js";

// An explicit plan that does not validate is the caller's typo: refused with every issue and NOTHING written (no run,
// incident, evidence, record, tenant, tenant-log entry…), through the service, the API and the CLI. Checked by
// counting the rows of every table the database's catalog lists, before and after. A planner's plan that fails is
// still a recorded failed run (the control: the same count sees its rows).

const config = testConfig();

/** Plans that do not validate, one per kind of problem: its shape, an unknown skill, params, references, size. */
const INVALID_PLANS: [string, unknown][] = [
  ["no steps field", { stpes: [] }],
  ["a step without step_id", { steps: [{ skill: "json_transform", params: {} }] }],
  ["an unknown skill", { steps: [{ step_id: "a", skill: "no_such_skill", params: {} }] }],
  ["bad params", { steps: [{ step_id: "a", skill: "http_call", params: { url: "ftp://x", method: "FETCH" } }] }],
  ["a reference to a later step", { steps: [{ step_id: "a", skill: "json_transform", params: { payload: { x: "{{b.y}}" }, mapping: { x: "x" } } }, { step_id: "b", skill: "json_transform", params: { payload: {}, mapping: {} } }] }],
  ["too many steps", { steps: Array.from({ length: config.maxPlanSteps + 1 }, (_, i) => ({ step_id: `s${i}`, skill: "json_transform", params: { payload: {}, mapping: {} } })) }],
];

/** Every base table of the database, from its catalog, with its row count. */
async function rowCounts(db: Queryable): Promise<Record<string, number>> {
  const { rows: tables } = await db.query<{ name: string }>(
    `select format('%I.%I', table_schema, table_name) as name
from information_schema.tables
where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
order by 1`,
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables) counts[name] = (await db.query<{ n: number }>(`select count(*)::int as n from ${name}`)).rows[0]?.n ?? 0;
  return counts;
}

describeOnBackends("an explicit plan that does not validate writes nothing, on $name", (backend) => {
  let db: TestDatabase;
  let app: ReturnType<typeof buildApi>;
  let contract: Contract;
  let key: string;

  beforeAll(async () => {
    db = await backend.open();
    key = (await createApiKey(db, { tenantId: "plans-api", name: "k" })).key;
    ({ app, contract } = await contractCheckedApi({ db, config, log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) }));
  });
  afterEach(() => expect(contract.violations.splice(0)).toEqual([]));
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  it("through the service: PLAN_INVALID with every issue and no run_id; every table unchanged, a new tenant not created", async () => {
    const agent = await createAgent(db, { tenantId: "plans-service", name: "a" });
    const before = await rowCounts(db.pool);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['public.runs', 'public.incidents', 'public.tenants']));
    for (const [kind, plan] of INVALID_PLANS) {
      for (const input of [
        { tenantId: "plans-service", agentId: agent.id, goal: kind, plan },
        { tenantId: "plans-new-tenant", goal: kind, plan, idempotencyKey: `key-${kind}` },
      ]) {
        const error = await createRun(runnerDeps(db, config), input).catch((thrown: unknown) => thrown);
        expect([kind, error]).toEqual([kind, expect.objectContaining({ code: "PLAN_INVALID", details: { issues: expect.arrayContaining([expect.objectContaining({ code: expect.any(String) })]) } })]);
      }
    }
    expect(await rowCounts(db.pool)).toEqual(before);
  });

  it("a planner's plan that fails is still recorded: the same count sees its run and its records", async () => {
    const before = await rowCounts(db.pool);
    await expect(createRun(runnerDeps(db, config), { tenantId: "plans-service", goal: UNPLANNABLE_GOAL })).rejects.toMatchObject({
      code: "PLAN_INVALID",
      details: { run_id: expect.any(String) },
    });
    const after = await rowCounts(db.pool);
    const grew = Object.keys(after).filter((table) => after[table] !== before[table]);
    expect(grew).toEqual(expect.arrayContaining(["public.runs", "public.incidents"]));
  });

  it("through the API: 422 PLAN_INVALID listing the issues, every table unchanged", async () => {
    const before = await rowCounts(db.pool);
    for (const [kind, plan] of INVALID_PLANS) {
      const response = await app.inject({ method: "POST", url: "/api/v1/runs", headers: { authorization: `Bearer ${key}` }, payload: { goal: kind, plan } });
      // A plan without a steps field is refused by the request's schema (400) before the service sees it.
      expect([kind, response.statusCode]).toEqual([kind, kind === "no steps field" ? 400 : 422]);
      if (response.statusCode === 422) expect(response.json().error).toMatchObject({ code: "PLAN_INVALID", details: { issues: expect.any(Array) } });
      expect(response.json().error.details.run_id).toBeUndefined();
    }
    expect(await rowCounts(db.pool)).toEqual(before);
  });
});

it("through the CLI: exit 2, error: with every issue and a hint; the embedded database holds no run and no tenant", { timeout: 300_000 }, async () => {
  const home = tempHome();
  const env = { AOS_HOME: home };
  const plan = writePlan(home, { steps: [{ step_id: "a", skill: "no_such_skill" }, { step_id: "b", skill: "http_call", params: { url: "ftp://x" } }] });
  const result = await runCli(["run", "--tenant-id", "typo", "--goal", "g", "--plan", plan], env);
  expect([result.code, result.stdout]).toEqual([2, ""]);
  expect(result.stderr).toMatch(/^error: the plan does not validate \(2 issues; nothing was created\): steps\[0\]\.skill: .*UNKNOWN_SKILL.*; steps\[1\]\.params\.url: .*\nhint: /);
  const json = await runCli(["run", "--tenant-id", "typo", "--goal", "g", "--plan", plan, "--json"], env);
  expect([json.code, json.stdout]).toEqual([2, ""]);
  // Not even the tenant was created: every verb that reads refuses it as unknown.
  for (const verb of [["list-runs"], ["incidents"]]) {
    const listed = await runCli([...verb, "--tenant-id", "typo", "--json"], env);
    expect([listed.code, listed.stdout, listed.stderr]).toEqual([1, "", expect.stringContaining('no such tenant "typo"')]);
  }
});
