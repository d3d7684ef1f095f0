import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ApiMetrics } from "../src/api/metrics.js";
import { buildApi } from "../src/api/server.js";
import { silentLogger } from "../src/logger.js";
import { requireTenant } from "../src/services/agents.js";
import { createApiKey } from "../src/services/api-keys.js";
import { approveRun } from "../src/services/run-decisions.js";
import { createRun } from "../src/services/runs.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { runCli, tempHome, writePlan } from "./support/cli.js";
import { type Contract, contractCheckedApi } from "./support/contract.js";
import { type TestDatabase, describeOnBackends } from "./support/databases.js";
import { testConfig } from "./support/harness.js";

// One service error, two callers: the service names the API's field (`goal`, `tenant_id`, `by`, `agent_id`) in
// its message and in details.field, the API returns that as it is, and the CLI prints its flag in the field's place.

const config = testConfig();
const plan = { steps: [{ step_id: "pick", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }] };
const SOME_RUN = "00000000-0000-4000-8000-000000000000";

describe("the CLI prints its flags where services name fields", () => {
  const home = tempHome();
  const cli = (argv: string[]) => runCli(argv, { AOS_HOME: home });

  it("a missing goal, a bad tenant id and a bad --by exit 2 naming the flag", { timeout: 300_000 }, async () => {
    // Tenant t exists, so each verb gets as far as the flag it names (a tenant that does not exist is refused first).
    expect((await cli(["api-keys", "create", "--tenant-id", "t", "--name", "k"])).code).toBe(0);
    const cases: [string[], string][] = [
      [["run", "--tenant-id", "t", "--goal", "   ", "--no-wait"], "error: a run needs a non-empty --goal"],
      [["list-runs", "--tenant-id", "  "], "error: a tenant is required: give a --tenant-id\nhint: Pass --tenant-id."],
      [["list-runs", "--tenant-id", "t".repeat(129)], "error: --tenant-id is at most 128 characters"],
      [["approve", SOME_RUN, "--tenant-id", "t", "--by", "  "], "error: --by is required: say who decides"],
      [["reject", SOME_RUN, "--tenant-id", "t", "--by", "b".repeat(201)], "error: --by is 201 characters long; at most 200 are allowed"],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(argv);
      expect([argv[0], result.code, result.stderr]).toEqual([argv[0], 2, expect.stringContaining(message)]);
    }
  });

  it("a run named with another agent: the query's error names --agent-id", { timeout: 120_000 }, async () => {
    const run = JSON.parse((await cli(["run", "--tenant-id", "t", "--goal", "g", "--plan", writePlan(home, plan), "--no-wait", "--json"])).stdout);
    const agent = JSON.parse((await cli(["create-agent", "--tenant-id", "t", "--name", "other", "--json"])).stdout);
    const result = await cli(["query", "last_step_outcome", "--tenant-id", "t", "--agent-id", agent.agent_id, "--run-id", run.run_id]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`; drop --agent-id or name that agent`);
  });
});

describe("services name the API's fields", () => {
  it("in the message and in details.field, with no flag", async () => {
    expect(() => requireTenant(" ")).toThrow(
      expect.objectContaining({ code: "TENANT_REQUIRED", message: "a tenant is required: give a tenant_id", details: { field: "tenant_id" } }),
    );
    // Both check their input before touching the database.
    const unused = undefined as never;
    await expect(createRun({ db: unused, config, keys: unused }, { tenantId: "t", goal: " " })).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
      message: "a run needs a non-empty goal",
      details: { field: "goal" },
    });
    await expect(approveRun(unused, unused, "t", SOME_RUN, "b".repeat(201))).rejects.toMatchObject({
      code: "USAGE",
      message: "by is 201 characters long; at most 200 are allowed",
      details: { field: "by" },
    });
  });
});

describeOnBackends("the API returns fields, not flags, on $name", (backend) => {
  let db: TestDatabase;
  let app: ReturnType<typeof buildApi>;
  let contract: Contract;
  let key: string;
  const post = (url: string, payload: Record<string, unknown>) => app.inject({ method: "POST", url, headers: { authorization: `Bearer ${key}` }, payload });

  beforeAll(async () => {
    db = await backend.open();
    key = (await createApiKey(db, { tenantId: `wording-${backend.name}`, name: "k" })).key;
    ({ app, contract } = await contractCheckedApi({ db, config, log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) }));
  });
  afterEach(() => expect(contract.violations.splice(0)).toEqual([]));
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  it("a blank goal and a long by are 400s naming body.goal and body.by", async () => {
    const blank = await post("/api/v1/runs", { goal: "   ", plan });
    expect(blank.statusCode).toBe(400);
    expect(blank.json().error.details.issues.map((issue: { path: string }) => issue.path)).toEqual(["body.goal"]);
    const long = await post(`/api/v1/runs/${SOME_RUN}/approve`, { by: "b".repeat(201) });
    expect(long.statusCode).toBe(400);
    expect(long.json().error.details.issues.map((issue: { path: string }) => issue.path)).toEqual(["body.by"]);
    expect(`${blank.body}${long.body}`).not.toMatch(/--[a-z]/);
  });

  it("a run named with another agent is a 400 naming agent_id in the message and details.field", async () => {
    const run = (await post("/api/v1/runs", { goal: "g", plan })).json();
    const agent = (await post("/api/v1/agents", { name: "other" })).json();
    const answer = await post("/api/v1/runtime/query", { query_type: "last_step_outcome", params: { agent_id: agent.agent_id, run_id: run.run_id } });
    expect(answer.statusCode).toBe(400);
    expect(answer.json().error).toMatchObject({ code: "VALIDATION_ERROR", message: expect.stringContaining("; drop agent_id or name that agent"), details: { field: "agent_id" } });
  });
});
