import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { ApiMetrics } from "../src/api/metrics.js";
import type { buildApi } from "../src/api/server.js";
import { silentLogger } from "../src/logger.js";
import { createApiKey } from "../src/services/api-keys.js";
import { setPolicy } from "../src/services/policies.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { type Contract, contractCheckedApi } from "./support/contract.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, testConfig } from "./support/harness.js";
import { type LoopbackServer, startLoopbackServer } from "./support/http-server.js";

// Upstream AOS's own SDKs against our server: each client below sends exactly what upstream's SDK method sends
// (sdk/js/aos-sdk/src/client.ts and sdk/python/aos_sdk/aos_sdk_client.py at 5efb1dc2: paths, methods, headers,
// bodies, query strings) over a real socket, and reads the answer the way that SDK or its documented usage reads it.
// Written from reading those files; none of their code is here. Every answer is also held to the served spec.

const config = testConfig({ AOS_EGRESS_ALLOW: "127.0.0.1" });

type Json = Record<string, any>;

/** What both SDKs raise on a status ≥ 400: the status and the parsed body. */
class SdkError extends Error {
  constructor(
    readonly statusCode: number,
    readonly response: unknown,
  ) {
    super(`Request failed: ${statusCode}`);
  }
}

/** How a poll waits between requests: the SDKs sleep; the test runs the worker instead, so nothing is timed. */
type Between = () => Promise<void>;

/** The one request function of each SDK: its fixed headers on every request, JSON body only when there is one. */
function transport(baseUrl: string, headers: Record<string, string>) {
  return async (method: string, path: string, options: { json?: unknown; params?: Record<string, string> } = {}): Promise<Json> => {
    const query = options.params !== undefined && Object.keys(options.params).length > 0 ? `?${new URLSearchParams(options.params).toString()}` : "";
    const response = await fetch(`${baseUrl}${path}${query}`, { method, headers, body: options.json === undefined ? undefined : JSON.stringify(options.json) });
    const text = await response.text();
    if (response.status >= 400) throw new SdkError(response.status, text === "" ? null : JSON.parse(text));
    return text === "" ? {} : (JSON.parse(text) as Json);
  };
}

/** sdk/js/aos-sdk's AOSClient: `new AOSClient({ apiKey, baseUrl })`. */
function jsSdk(baseUrl: string, apiKey: string) {
  const request = transport(baseUrl, { "Content-Type": "application/json", "X-AOS-Key": apiKey });
  return {
    simulate: (plan: unknown[], budgetCents = 1000, agentId?: string, tenantId?: string) =>
      request("POST", "/api/v1/runtime/simulate", { json: { plan, budget_cents: budgetCents, ...(agentId ? { agent_id: agentId } : {}), ...(tenantId ? { tenant_id: tenantId } : {}) } }),
    query: (queryType: string, params?: Json, agentId?: string, runId?: string) =>
      request("POST", "/api/v1/runtime/query", { json: { query_type: queryType, params: params || {}, ...(agentId ? { agent_id: agentId } : {}), ...(runId ? { run_id: runId } : {}) } }),
    listSkills: () => request("GET", "/api/v1/runtime/skills"),
    describeSkill: (skillId: string) => request("GET", `/api/v1/runtime/skills/${skillId}`),
    getCapabilities: (agentId?: string, tenantId?: string) =>
      request("GET", "/api/v1/runtime/capabilities", { params: { ...(agentId ? { agent_id: agentId } : {}), ...(tenantId ? { tenant_id: tenantId } : {}) } }),
    async createAgent(name: string): Promise<string> {
      const data = await request("POST", "/agents", { json: { name } });
      return data.agent_id || data.id || "";
    },
    async postGoal(agentId: string, goal: string, forceSkill?: string): Promise<string> {
      const data = await request("POST", `/agents/${agentId}/goals`, { json: { goal, ...(forceSkill ? { force_skill: forceSkill } : {}) } });
      return data.run_id || data.run?.id || data.plan?.plan_id || "";
    },
    /** pollRun: GET the run until status (or run.status, or plan.status) is succeeded or failed; errors are swallowed. */
    async pollRun(agentId: string, runId: string, between: Between, polls = 10): Promise<Json> {
      for (let poll = 0; poll < polls; poll += 1) {
        try {
          const data = await request("GET", `/agents/${agentId}/runs/${runId}`);
          const status = data.status || data.run?.status || data.plan?.status;
          if (status === "succeeded" || status === "failed") return data;
        } catch {
          // Continue polling on error, as the SDK does.
        }
        await between();
      }
      throw new Error(`Run ${runId} did not complete`);
    },
    createRun: (agentId: string, goal: string, plan?: unknown[]) => request("POST", "/api/v1/runs", { json: { agent_id: agentId, goal, ...(plan ? { plan } : {}) } }),
    getRun: (runId: string) => request("GET", `/api/v1/runs/${runId}`),
  };
}

/** sdk/python/aos_sdk's AOSClient (httpx): `AOSClient(api_key=…, base_url=…)`; its safety layer is absent outside upstream's backend. */
function pythonSdk(baseUrl: string, apiKey: string) {
  const request = transport(baseUrl, { "Content-Type": "application/json", "X-AOS-Key": apiKey, "User-Agent": "python-httpx/0.27.0", Accept: "*/*" });
  const tenantBudgetLimit = 10_000;
  return {
    simulate: (plan: unknown[], budgetCents = 1000, agentId?: string, tenantId?: string) =>
      request("POST", "/api/v1/runtime/simulate", {
        json: { plan, budget_cents: Math.min(budgetCents, tenantBudgetLimit), ...(agentId ? { agent_id: agentId } : {}), ...(tenantId ? { tenant_id: tenantId } : {}) },
      }),
    query: (queryType: string, params?: Json, agentId?: string, runId?: string) =>
      request("POST", "/api/v1/runtime/query", { json: { query_type: queryType, params: params ?? {}, ...(agentId ? { agent_id: agentId } : {}), ...(runId ? { run_id: runId } : {}) } }),
    list_skills: () => request("GET", "/api/v1/runtime/skills"),
    describe_skill: (skillId: string) => request("GET", `/api/v1/runtime/skills/${skillId}`),
    get_capabilities: (agentId?: string, tenantId?: string) =>
      request("GET", "/api/v1/runtime/capabilities", { params: { ...(agentId ? { agent_id: agentId } : {}), ...(tenantId ? { tenant_id: tenantId } : {}) } }),
    async create_agent(name: string): Promise<string> {
      const data = await request("POST", "/agents", { json: { name } });
      return data.agent_id || data.id || "generated-uuid";
    },
    async post_goal(agentId: string, goal: string): Promise<string> {
      const data = await request("POST", `/agents/${agentId}/goals`, { json: { goal } });
      // data.get("run", {}).get("id"): a run or plan present but null would raise in Python, so both must be absent or objects.
      expect(data.run === undefined || typeof data.run === "object").toBe(true);
      return data.run_id || (data.run ?? {}).id || (data.plan ?? {}).plan_id || "";
    },
    async poll_run(agentId: string, runId: string, between: Between, polls = 10): Promise<Json> {
      for (let poll = 0; poll < polls; poll += 1) {
        try {
          const data = await request("GET", `/agents/${agentId}/runs/${runId}`);
          const status = data.status || (data.run ?? {}).status || (data.plan ?? {}).status;
          if (status && ["succeeded", "failed"].includes(status)) return data;
        } catch (error) {
          if (!(error instanceof SdkError)) throw error;
        }
        await between();
      }
      throw new Error(`Run ${runId} did not complete`);
    },
    create_system_run: (goal: string, agentId: string, originSystemId: string, plan?: unknown[]) =>
      request("POST", "/api/v1/runs", { json: { agent_id: agentId, goal, actor_type: "SYSTEM", origin_system_id: originSystemId, ...(plan ? { plan } : {}) } }),
    create_human_run: (goal: string, agentId: string, actorId: string, originSystemId: string) =>
      request("POST", "/api/v1/runs", { json: { agent_id: agentId, goal, actor_type: "HUMAN", origin_system_id: originSystemId, actor_id: actorId } }),
    get_run: (runId: string) => request("GET", `/api/v1/runs/${runId}`),
  };
}

const failing = (errorCode: string) => ({ skill: "fail_trigger", params: { error_code: errorCode, retryable: false } });
const transform = { skill: "json_transform", params: { payload: { a: { b: 7 } }, mapping: { b: "a.b" } } };

describeOnBackends("upstream AOS's SDKs against our server on $name", (backend) => {
  let db: TestDatabase;
  let app: ReturnType<typeof buildApi>;
  let contract: Contract;
  let baseUrl: string;
  let site: LoopbackServer;
  let keyA: string;
  let keyB: string;
  const tenantA = `upstream-a-${backend.name}`;
  const tenantB = `upstream-b-${backend.name}`;
  const worker = (runId: () => string) => async () => {
    await claimAndExecute(runnerDeps(db, config), runId(), "upstream-compat");
  };
  const expectError = async (call: Promise<unknown>, status: number, message: RegExp) => {
    const error = (await call.then(
      () => undefined,
      (thrown: unknown) => thrown,
    )) as SdkError;
    expect(error).toBeInstanceOf(SdkError);
    expect({ status: error.statusCode, message: (error.response as Json).error.message }).toEqual({ status, message: expect.stringMatching(message) });
  };
  const ours = (method: "GET" | "POST", path: string, key: string, payload?: unknown) =>
    fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(payload === undefined ? {} : { "content-type": "application/json" }) },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });

  beforeAll(async () => {
    db = await backend.open();
    keyA = (await createApiKey(db, { tenantId: tenantA, name: "a" })).key;
    keyB = (await createApiKey(db, { tenantId: tenantB, name: "b" })).key;
    ({ app, contract } = await contractCheckedApi({ db, config, log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) }));
    baseUrl = await app.listen({ port: 0, host: "127.0.0.1" });
    site = await startLoopbackServer((_request, response) => response.end("Keep it logically awesome."));
  });
  afterEach(() => {
    expect(contract.violations.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    expect(contract.checked).toBeGreaterThan(40);
    await site?.close();
    await app?.close();
    await db?.close();
  });

  for (const [sdkName, sdkOf] of [
    ["JS", jsSdk],
    ["Python", pythonSdk],
  ] as const) {
    it(`${sdkName}: agent → goal → poll → get run completes, reading what upstream's readers read`, async () => {
      const sdk = sdkOf(baseUrl, keyA) as ReturnType<typeof jsSdk> & ReturnType<typeof pythonSdk>;
      const agentId = sdkName === "JS" ? await sdk.createAgent(`zen-${sdkName}`) : await sdk.create_agent(`zen-${sdkName}`);
      expect(agentId).toMatch(/^[0-9a-f-]{36}$/);
      const goal = `fetch ${site.url}/zen`;
      const runId = sdkName === "JS" ? await sdk.postGoal(agentId, goal) : await sdk.post_goal(agentId, goal);
      expect(runId).toMatch(/^[0-9a-f-]{36}$/);
      const polled = sdkName === "JS" ? await sdk.pollRun(agentId, runId, worker(() => runId)) : await sdk.poll_run(agentId, runId, worker(() => runId));
      expect(polled).toMatchObject({ id: runId, run_id: runId, agent_id: agentId, goal, status: "succeeded", aos_status: "succeeded", error_message: null });
      expect(polled.outcome).toEqual({ success: true, data: expect.objectContaining({ status_code: 200 }), error: null });
      expect(polled.tool_calls).toEqual([expect.objectContaining({ skill: "http_call", status: "succeeded", outcome_code: "ok" })]);
      expect(site.requests.at(-1)?.path).toBe("/zen");
      const run = sdkName === "JS" ? await sdk.getRun(runId) : await sdk.get_run(runId);
      expect(run).toMatchObject({ id: runId, status: "succeeded", agent_id: agentId, goal, created_at: expect.any(String), completed_at: expect.any(String) });
      // The same run through our own dialect: our shape, untouched.
      expect(await (await ours("GET", `/api/v1/runs/${runId}`, keyA)).json()).toMatchObject({ run_id: runId, status: "succeeded", origin_system_id: "api-endpoint" });
    });

    it(`${sdkName}: simulate, capabilities, list skills, describe skill and every query type answer in upstream's fields`, async () => {
      const sdk = sdkOf(baseUrl, keyA) as ReturnType<typeof jsSdk> & ReturnType<typeof pythonSdk>;
      const simulated = await sdk.simulate([transform, { skill: "http_call", params: { url: `${site.url}/zen` } }]);
      expect(simulated).toMatchObject({ feasible: true, status: "feasible", estimated_cost_cents: expect.any(Number), reason: null, seed: null });
      expect(simulated.step_estimates.map((step: Json) => step.step_id)).toEqual(["step_1", "step_2"]);
      const over = await sdk.simulate([{ skill: "llm_invoke", params: { prompt: "Summarize" }, iterations: 3 }], 0);
      expect(over.feasible).toBe(false);
      expect(over.step_estimates.map((step: Json) => step.step_id)).toEqual(["step_1", "step_1.2", "step_1.3"]);
      expect(over.reason).toEqual(expect.any(String));

      const caps = sdkName === "JS" ? await sdk.getCapabilities() : await sdk.get_capabilities();
      expect(caps.skills_available).toContain("http_call");
      expect(caps).toMatchObject({ budget_remaining_cents: null, permissions: ["read", "write", "execute"] });
      expect(caps.skills.http_call).toMatchObject({ available: true, known_failure_patterns: expect.arrayContaining(["TIMEOUT"]) });

      const listed = sdkName === "JS" ? await sdk.listSkills() : await sdk.list_skills();
      expect(listed.count).toBe(listed.skills.length);
      for (const skill of listed.skills) expect(skill).toEqual({ id: skill.name, name: expect.any(String), description: expect.any(String), version: expect.any(String) });
      expect(listed.skills.map((skill: Json) => skill.name)).toContain("json_transform");

      const described = sdkName === "JS" ? await sdk.describeSkill("http_call") : await sdk.describe_skill("http_call");
      expect(described).toMatchObject({ id: "http_call", skill_id: "http_call", name: "http_call", version: expect.any(String), params_schema: { type: "object" } });
      expect(described.failure_modes).toContainEqual(expect.objectContaining({ code: "TIMEOUT", retryable: true }));

      const agentId = sdkName === "JS" ? await sdk.createAgent(`budgeted-${sdkName}`) : await sdk.create_agent(`budgeted-${sdkName}`);
      const budget = await sdk.query("remaining_budget_cents", {}, agentId);
      expect(budget).toMatchObject({ query_type: "remaining_budget_cents", result: { remaining_cents: null, spent_cents: 0, total_cents: null } });
      expect(budget.supported_queries).toContain("skills_available_for_goal");
      expect((await sdk.query("allowed_skills")).result).toMatchObject({ skills: expect.arrayContaining(["http_call"]), count: expect.any(Number) });
      expect((await sdk.query("what_did_i_try_already", {}, agentId)).result).toEqual({ history: [] });
      expect((await sdk.query("last_step_outcome", {}, agentId)).result).toEqual({ outcome: null });
      const forGoal = await sdk.query("skills_available_for_goal", { goal: "send an email to the team" });
      expect(forGoal.result).toMatchObject({ goal: "send an email to the team" });
      expect(forGoal.result.skills[0]).toBe("email_send");
    });
  }

  it("a poll ends on every settled status: failed, pending_approval, halted and cancelled all read failed, with our word beside it", async () => {
    const sdk = jsSdk(baseUrl, keyA);
    const python = pythonSdk(baseUrl, keyA);
    const agentId = await sdk.createAgent("settles");
    const failed = (await sdk.createRun(agentId, "fail", [failing("INJECTED_FAILURE")])) as Json;
    expect(failed).toMatchObject({ status: "queued", id: failed.run_id });
    const failedRun = await python.poll_run(agentId, failed.run_id, worker(() => failed.run_id));
    expect(failedRun).toMatchObject({ status: "failed", aos_status: "failed", outcome: { success: false, error: { code: "INJECTED_FAILURE" } } });

    const tenantId = `upstream-approval-${backend.name}`;
    const key = (await createApiKey(db, { tenantId, name: "approver" })).key;
    await setPolicy(db, { tenantId, document: { require_approval: ["json_transform"] } });
    const guarded = pythonSdk(baseUrl, key);
    const guardedAgent = await guarded.create_agent("guarded");
    const parked = await guarded.create_system_run("needs a person", guardedAgent, "nightly-cron", [transform]);
    const waiting = await guarded.poll_run(guardedAgent, parked.run_id, worker(() => parked.run_id));
    expect(waiting).toMatchObject({ status: "failed", aos_status: "pending_approval", outcome: { success: false, error: { code: "APPROVAL_REQUIRED" } } });
    expect(waiting.error_message).toMatch(new RegExp(`waiting for approval: POST /api/v1/runs/${parked.run_id}/approve`));
    expect((await ours("POST", `/api/v1/runs/${parked.run_id}/reject`, key, { by: "alice" })).status).toBe(200);
    expect(await guarded.get_run(parked.run_id)).toMatchObject({ status: "failed", aos_status: "halted" });

    const queued = (await sdk.createRun(agentId, "never runs", [transform])) as Json;
    expect((await ours("POST", `/api/v1/runs/${queued.run_id}/cancel`, keyA)).status).toBe(200);
    const stopped = await sdk.pollRun(agentId, queued.run_id, async () => {
      throw new Error("a cancelled run ends the first poll");
    });
    expect(stopped).toMatchObject({ status: "failed", aos_status: "cancelled", error_message: "Cancelled on request", outcome: { error: { code: "CANCELLED" } } });
  });

  it("keeps every tenant to its own: tenant B's key reaches none of tenant A's agents and runs through upstream's routes", async () => {
    const a = jsSdk(baseUrl, keyA);
    const b = pythonSdk(baseUrl, keyB);
    const agentId = await a.createAgent("a-private");
    const runId = await a.postGoal(agentId, `secret ${site.url}/zen`);
    await a.pollRun(agentId, runId, worker(() => runId));
    await expectError(b.get_run(runId), 404, /Run not found/);
    await expect(jsSdk(baseUrl, keyB).pollRun(agentId, runId, async () => undefined, 2)).rejects.toThrow(/did not complete/);
    const polled = await fetch(`${baseUrl}/agents/${agentId}/runs/${runId}`, { headers: { "X-AOS-Key": keyB } });
    expect(polled.status).toBe(404);
    expect(await polled.text()).not.toContain("secret");
    await expectError(b.post_goal(agentId, "steal"), 404, /Agent not found/);
    await expectError(b.simulate([transform], 1000, agentId), 404, /Agent not found/);
    await expectError(b.get_capabilities(agentId), 404, /Agent not found/);
    await expectError(b.query("last_step_outcome", {}, undefined, runId), 404, /Run not found/);
    await expectError(b.query("what_did_i_try_already", {}, agentId), 404, /Agent not found/);
    await expectError(b.create_system_run("steal", agentId, "b"), 404, /Agent not found/);
    // Naming tenant A with B's key is refused, not answered for B.
    await expectError(b.get_capabilities(undefined, tenantA), 400, /not this API key's tenant/);
    await expectError(b.simulate([transform], 1000, undefined, tenantA), 400, /not this API key's tenant/);
    expect(await b.get_capabilities(undefined, tenantB)).toMatchObject({ skills_available: expect.arrayContaining(["http_call"]) });
    // Another agent of A's tenant does not own the run either.
    const other = await a.createAgent("a-other");
    expect((await fetch(`${baseUrl}/agents/${other}/runs/${runId}`, { headers: { "X-AOS-Key": keyA } })).status).toBe(404);
  });

  it("answers bad input with a 4xx whose message says what was wrong, and creates nothing", async () => {
    const count = async () => (await db.pool.query("select (select count(*) from runs)::int as runs, (select count(*) from agents)::int as agents")).rows[0];
    const sdk = jsSdk(baseUrl, keyA);
    const python = pythonSdk(baseUrl, keyA);
    const agentId = await sdk.createAgent("inputs");
    const before = await count();
    await expectError(sdk.createAgent("   "), 400, /name: must hold a character other than whitespace/);
    await expectError(sdk.postGoal(agentId, "x", "http_call"), 400, /force_skill is not supported/);
    await expectError(sdk.postGoal(agentId, ""), 400, /goal/);
    await expectError(sdk.postGoal("no-such-agent", "x"), 404, /Agent not found: no-such-agent/);
    await expectError(sdk.simulate([]), 400, /plan: Too small/);
    await expectError(sdk.simulate([{ skill: "http_call", param: {} } as never]), 400, /plan\[0\]: Unrecognized key: "param"/);
    await expectError(sdk.query("what_is_the_meaning" as never), 400, /query_type/);
    await expectError(sdk.describeSkill("no_such_skill"), 404, /Skill 'no_such_skill' not found; the skills are: http_call/);
    await expectError(python.create_human_run("g", agentId, undefined as never, "console"), 400, /actor_id is required with actor_type HUMAN/);
    const saved = fetch(`${baseUrl}/api/v1/runtime/simulate`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-AOS-Key": keyA },
      body: JSON.stringify({ plan: [transform], save_trace: true }),
    });
    expect(((await (await saved).json()) as Json).error.message).toMatch(/save_trace is not supported/);
    // Our own plan shape sent in upstream's header names the dialect that read it.
    await expectError(sdk.simulate({ steps: [] } as never), 400, /plan: .*expected array/);
    expect(await count()).toEqual(before);
    // A plan that does not validate is refused as our own route refuses it (today after recording a failed run).
    await expectError(sdk.createRun(agentId, "bad plan", [{ skill: "no_such_skill", params: {} }]), 422, /no_such_skill/);
  });

  it("leaves our /api/v1 contract alone: the same paths with Authorization: Bearer answer our shapes", async () => {
    const skills = (await (await ours("GET", "/api/v1/runtime/skills", keyA)).json()) as Json[];
    expect(Array.isArray(skills)).toBe(true);
    const upstreamSkills = (await jsSdk(baseUrl, keyA).listSkills()) as Json;
    expect(upstreamSkills.skills.map((skill: Json) => skill.name)).toEqual(skills.map((skill) => skill.name));
    const simulated = await ours("POST", "/api/v1/runtime/simulate", keyA, { plan: { steps: [{ step_id: "s", ...transform }] } });
    expect(((await simulated.json()) as Json).seed).toBeUndefined();
    expect((await ours("POST", "/api/v1/runtime/simulate", keyA, { plan: [transform] })).status).toBe(400);
    const queried = (await (await ours("POST", "/api/v1/runtime/query", keyA, { query_type: "allowed_skills" })).json()) as Json;
    expect(queried).toMatchObject({ query_type: "allowed_skills", answer: { allowed: expect.any(Array) } });
    expect(queried.result).toBeUndefined();
    // Both headers: Bearer wins, so the answer is ours.
    const both = await fetch(`${baseUrl}/api/v1/runtime/skills`, { headers: { authorization: `Bearer ${keyA}`, "X-AOS-Key": keyA } });
    expect(Array.isArray(await both.json())).toBe(true);
    // X-AOS-Key on a path that is only ours: our shape.
    const agents = await fetch(`${baseUrl}/api/v1/agents`, { headers: { "X-AOS-Key": keyA } });
    expect(Array.isArray(await agents.json())).toBe(true);
  });

  it("documents upstream's routes in the spec under the upstream-compat tag; on our paths as each operation's x-upstream-dialect", async () => {
    const spec = (await (await fetch(`${baseUrl}/docs/openapi.json`)).json()) as { tags: { name: string }[]; paths: Record<string, Record<string, Json>> };
    expect(spec.tags.map((tag) => tag.name)).toContain("upstream-compat");
    for (const path of ["/agents", "/agents/{agent_id}/goals"]) expect(spec.paths[path]?.post?.tags).toEqual(["upstream-compat"]);
    expect(spec.paths["/agents/{agent_id}/runs/{run_id}"]?.get?.tags).toEqual(["upstream-compat"]);
    const shared = [
      ["post", "/api/v1/runs"],
      ["get", "/api/v1/runs/{run_id}"],
      ["post", "/api/v1/runtime/simulate"],
      ["post", "/api/v1/runtime/query"],
      ["get", "/api/v1/runtime/capabilities"],
      ["get", "/api/v1/runtime/skills"],
      ["get", "/api/v1/runtime/skills/{skill_id}"],
    ] as const;
    for (const [method, path] of shared) {
      const operation = spec.paths[path]?.[method] as Json;
      expect([path, operation.tags]).not.toEqual([path, ["upstream-compat"]]);
      expect([path, operation["x-upstream-dialect"]]).toEqual([path, expect.objectContaining({ "x-selected-by": "X-AOS-Key", tags: ["upstream-compat"], security: [{ aosKey: [] }] })]);
    }
    const ids = Object.values(spec.paths).flatMap((methods) => Object.values(methods).flatMap((operation) => [operation.operationId, operation["x-upstream-dialect"]?.operationId]));
    const named = ids.filter((id) => id !== undefined);
    expect(new Set(named).size).toBe(named.length);
  });
});
