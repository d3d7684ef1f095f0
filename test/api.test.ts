import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { ApiMetrics } from "../src/api/metrics.js";
import { API_ROUTES, buildApi } from "../src/api/server.js";
import { silentLogger } from "../src/logger.js";
import { createApiKey, revokeApiKey } from "../src/services/api-keys.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { verifyProofBundle } from "../src/client/index.js";
import { type Contract, contractCheckedApi } from "./support/contract.js";
import { type TestDatabase, describeOnBackends } from "./support/databases.js";
import { runnerDeps, testConfig } from "./support/harness.js";
import { asSuperuser } from "./support/tamper.js";

// The HTTP API in process (Fastify inject): authentication, the error envelope, every route's tenant isolation,
// idempotency, and a run through the API to a proof verified offline. Every response is held to the served spec.

const config = testConfig();
const transformPlan = { steps: [{ step_id: "pick", skill: "json_transform", params: { payload: { a: { b: 7 } }, mapping: { b: "a.b" } } }] };

describeOnBackends("the HTTP API on $name", (backend) => {
  let db: TestDatabase;
  let app: ReturnType<typeof buildApi>;
  let contract: Contract;
  let keyA: string;
  let keyB: string;
  const tenantA = `api-a-${backend.name}`;
  const tenantB = `api-b-${backend.name}`;

  const call = (method: "GET" | "POST" | "PATCH", url: string, key: string | undefined, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method,
      url,
      headers: { ...(key === undefined ? {} : { authorization: `Bearer ${key}` }), ...headers },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  const runAll = async (runId: string) => claimAndExecute(runnerDeps(db, config), runId, "api-test");

  beforeAll(async () => {
    db = await backend.open();
    keyA = (await createApiKey(db, { tenantId: tenantA, name: "a" })).key;
    keyB = (await createApiKey(db, { tenantId: tenantB, name: "b" })).key;
    ({ app, contract } = await contractCheckedApi({ db, config, log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) }));
  });
  afterEach(() => {
    const broken = contract.violations.splice(0);
    expect(broken).toEqual([]);
  });
  afterAll(async () => {
    // Every test's responses were held to the spec; make sure they were many.
    expect(contract.checked).toBeGreaterThan(50);
    await app?.close();
    await db?.close();
  });

  it("serves health, readiness, metrics and an OpenAPI 3.1 spec listing every route", async () => {
    expect((await call("GET", "/healthz", undefined)).json()).toEqual({ status: "ok" });
    expect((await call("GET", "/readyz", undefined)).json()).toMatchObject({ status: "ready" });
    const metrics = await call("GET", "/metrics", undefined);
    expect(metrics.body).toContain("aos_runs");
    expect(metrics.body).toContain("aos_queue_depth");
    const spec = (await call("GET", "/docs/openapi.json", undefined)).json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(spec.openapi).toBe("3.1.0");
    for (const route of API_ROUTES) expect(spec.paths[route.url.replace(/:(\w+)/g, "{$1}")]?.[route.method.toLowerCase()]).toBeDefined();
    expect((await call("GET", "/docs", undefined)).headers["content-type"]).toContain("text/html");
  });

  it("needs a valid key: missing, malformed, unknown and revoked keys are 401 in the envelope; X-AOS-Key works too", async () => {
    for (const key of [undefined, "nonsense", `aos_${"x".repeat(43)}`]) {
      const response = await call("GET", "/api/v1/runs", key);
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ error: { code: "UNAUTHENTICATED", category: "PERMISSION", retryable: false, details: {} } });
    }
    const revoked = await createApiKey(db, { tenantId: tenantA, name: "soon revoked" });
    expect((await call("GET", "/api/v1/runs", revoked.key)).statusCode).toBe(200);
    await revokeApiKey(db, tenantA, revoked.id);
    expect((await call("GET", "/api/v1/runs", revoked.key)).statusCode).toBe(401);
    expect((await app.inject({ method: "GET", url: "/api/v1/agents", headers: { "x-aos-key": keyA } })).statusCode).toBe(200);
  });

  it("rejects bad requests with the envelope: unknown fields, bad JSON, wrong media type, too large, unknown route, invalid plan", async () => {
    const unknown = await call("POST", "/api/v1/agents", keyA, { name: "x", nmae: "typo" });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error).toMatchObject({ code: "VALIDATION_ERROR", details: { issues: [expect.objectContaining({ path: "body" })] } });
    const badJson = await call("POST", "/api/v1/agents", keyA, undefined, { "content-type": "application/json" });
    expect(badJson.statusCode).toBe(400);
    const broken = await app.inject({ method: "POST", url: "/api/v1/agents", headers: { authorization: `Bearer ${keyA}`, "content-type": "application/json" }, payload: "{not json" });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.code).toBe("VALIDATION_ERROR");
    const text = await app.inject({ method: "POST", url: "/api/v1/agents", headers: { authorization: `Bearer ${keyA}`, "content-type": "text/plain" }, payload: "name" });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    const large = await call("POST", "/api/v1/agents", keyA, { name: "x".repeat(config.apiBodyLimitBytes + 10) });
    expect(large.statusCode).toBe(413);
    expect(large.json().error.code).toBe("PAYLOAD_TOO_LARGE");
    const missing = await call("GET", "/api/v1/nothing-here", keyA);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe("ROUTE_NOT_FOUND");
    const invalidPlan = await call("POST", "/api/v1/runs", keyA, { goal: "g", plan: { steps: [{ step_id: "a", skill: "no_such_skill" }] } });
    expect(invalidPlan.statusCode).toBe(422);
    expect(invalidPlan.json().error).toMatchObject({ code: "PLAN_INVALID", details: { issues: [expect.objectContaining({ code: "UNKNOWN_SKILL" })] } });
    for (const response of [unknown, broken, text, large, missing, invalidPlan]) expect(response.body).not.toMatch(/at .*\.(ts|js):\d+/);
  });

  it("cannot open the egress floor: an agent listing metadata and loopback is narrowed, not opened; a wildcard is a 400", async () => {
    const created = await call("POST", "/api/v1/agents", keyA, { name: "opener", allowed_hosts: ["127.0.0.1", "169.254.169.254", "localhost"] });
    expect(created.statusCode).toBe(201);
    const agentId = (created.json() as { id: string }).id;
    for (const url of ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9/metrics", "http://localhost/"]) {
      const accepted = await call("POST", "/api/v1/runs", keyA, { goal: "g", agent_id: agentId, plan: { steps: [{ step_id: "s", skill: "http_call", params: { url } }] } });
      const runId = (accepted.json() as { run_id: string }).run_id;
      await claimAndExecute(runnerDeps(db, config), runId, "api-test-worker");
      const run = (await call("GET", `/api/v1/runs/${runId}`, keyA)).json() as { status: string; error_message: string };
      expect([url, run.status, run.error_message]).toEqual([url, "halted", expect.stringMatching(/ssrf_guard: .*only the operator can open it/)]);
    }
    for (const entry of ["*", "0.0.0.0/0", "http://x/"]) {
      const refused = await call("POST", "/api/v1/agents", keyA, { name: "wide", allowed_hosts: [entry] });
      expect([entry, refused.statusCode]).toEqual([entry, 400]);
      expect(refused.json().error).toMatchObject({ code: "VALIDATION_ERROR", message: expect.stringContaining(`allowed_hosts entry ${JSON.stringify(entry)}`) });
    }
  });

  it("runs a plan posted to the API to a proof that verifies offline with the server's keys", async () => {
    const accepted = await call("POST", "/api/v1/runs", keyA, { goal: "pick b", plan: transformPlan });
    expect(accepted.statusCode).toBe(202);
    const { run_id: runId } = accepted.json() as { run_id: string; status: string };
    expect(accepted.json().status).toBe("queued");
    await runAll(runId);

    const run = (await call("GET", `/api/v1/runs/${runId}`, keyA)).json();
    expect(run).toMatchObject({ run_id: runId, tenant_id: tenantA, status: "succeeded", origin_system_id: "api" });
    const steps = (await call("GET", `/api/v1/runs/${runId}/steps`, keyA)).json();
    expect(steps[0].outcome).toMatchObject({ status: "ok", result: { b: 7 }, side_effects: { cost_cents: 0, tokens: 0 } });
    expect((await call("GET", `/api/v1/runs/${runId}/proof`, keyA)).json().verification_status).toBe("VERIFIED");
    const keys = (await call("GET", "/api/v1/keys", undefined)).json() as { verification_keys: string[] };
    const bundle = (await call("GET", `/api/v1/runs/${runId}/proof/bundle`, keyA)).json();
    // Exported through a tenant's key, the run is integrated into its tenant's log and covered by a checkpoint first.
    expect(verifyProofBundle(bundle, keys.verification_keys)).toMatchObject({ verification_status: "VERIFIED", tenant_log: { state: "included" } });
    const inclusion = await call("GET", `/api/v1/runs/${runId}/steps/0/inclusion-proof`, keyA);
    expect(inclusion.headers["content-type"]).toContain("text/plain");
    expect(inclusion.body).toMatch(/^c2sp\.org\/tlog-proof@v1/);
    expect((await call("GET", `/api/v1/runs/${runId}/evidence`, keyA)).json()).toMatchObject({ run_id: runId, integrity_status: "VALID" });
    expect((await call("GET", `/api/v1/incidents?run_id=${runId}`, keyA)).json()).toEqual([expect.objectContaining({ run_id: runId, outcome: "SUCCESS" })]);
    expect((await call("GET", "/metrics", undefined)).body).toContain("aos_proof_verifications_total{status=\"VERIFIED\"} 1");
  });

  it("shows a finished run's facts from its proven run-end, and says TAMPERED naming the column a database writer changed", async () => {
    const { run_id: runId } = (await call("POST", "/api/v1/runs", keyA, { goal: "pick b", plan: transformPlan })).json() as { run_id: string };
    await runAll(runId);
    expect((await call("GET", `/api/v1/runs/${runId}`, keyA)).json()).toMatchObject({ status: "succeeded", facts_from: "run-end", proof: { verification_status: "VERIFIED" } });
    await asSuperuser(db, ["update runs set status = 'failed', error_message = 'it broke' where id = $1", [runId]]);
    const shown = (await call("GET", `/api/v1/runs/${runId}`, keyA)).json();
    expect(shown).toMatchObject({
      status: "succeeded",
      error_message: null,
      facts_from: "run-end",
      proof: { verification_status: "TAMPERED", field: "runs.status" },
    });
    expect((await call("GET", `/api/v1/runs/${runId}/proof`, keyA)).json()).toMatchObject({ verification_status: "TAMPERED", field: "runs.status" });
  });

  it("returns the same run for the same Idempotency-Key, and refuses the key with a different request", async () => {
    const body = { goal: "once", plan: transformPlan };
    const first = await call("POST", "/api/v1/runs", keyA, body, { "idempotency-key": "order-17" });
    const again = await call("POST", "/api/v1/runs", keyA, body, { "idempotency-key": "order-17" });
    expect(again.statusCode).toBe(202);
    expect(again.json().run_id).toBe(first.json().run_id);
    const other = await call("POST", "/api/v1/runs", keyA, { ...body, goal: "twice" }, { "idempotency-key": "order-17" });
    expect(other.statusCode).toBeGreaterThanOrEqual(400);
    expect(other.statusCode).toBeLessThan(500);
    const elsewhere = await call("POST", "/api/v1/runs", keyB, body, { "idempotency-key": "order-17" });
    expect(elsewhere.json().run_id).not.toBe(first.json().run_id);
  });

  it("never lets tenant B reach tenant A's resources: every route is 404 for them, and lists leave them out", async () => {
    const agent = (await call("POST", "/api/v1/agents", keyA, { name: "private" })).json() as { agent_id: string };
    const runId = (await call("POST", "/api/v1/runs", keyA, { goal: "secret", agent_id: agent.agent_id, plan: transformPlan })).json().run_id as string;
    await runAll(runId);
    const ids: Record<string, string> = { run_id: runId, agent_id: agent.agent_id, seq: "0" };
    const bodies: Record<string, unknown> = {
      "/api/v1/runs/:run_id/approve": { by: "b" },
      "/api/v1/runs/:run_id/reject": { by: "b" },
      "/api/v1/agents/:agent_id/goals": { goal: "steal" },
      "/agents/:agent_id/goals": { goal: "steal" },
      "/api/v1/agents/:agent_id": { budget_cents: 0 },
    };
    const scoped = API_ROUTES.filter((route) => route.auth && (route.url.includes(":run_id") || route.url.includes(":agent_id")));
    expect(scoped.length).toBe(16);
    for (const route of scoped) {
      const url = route.url.replace(/:(\w+)/g, (_match, name: string) => ids[name] as string);
      const payload = route.method !== "GET" ? (bodies[route.url] ?? undefined) : undefined;
      // Upstream's routes as its SDKs reach them: the key in X-AOS-Key.
      const response = route.dialect === "upstream" ? await call(route.method, url, undefined, payload, { "x-aos-key": keyB }) : await call(route.method, url, keyB, payload);
      expect({ route: route.url, status: response.statusCode }).toEqual({ route: route.url, status: 404 });
      expect(response.body).not.toContain("secret");
    }
    for (const list of ["/api/v1/runs", "/api/v1/agents", "/api/v1/incidents"]) {
      const body = (await call("GET", list, keyB)).body;
      expect(body).not.toContain(runId);
      expect(body).not.toContain(agent.agent_id);
    }
    const asked = await call("POST", "/api/v1/runtime/query", keyB, { query_type: "last_step_outcome", params: { run_id: runId } });
    expect(asked.statusCode).toBe(404);
    const simulated = await call("POST", "/api/v1/runtime/simulate", keyB, { plan: transformPlan, agent_id: agent.agent_id });
    expect(simulated.statusCode).toBe(404);
    // Naming the tenant in a header or the query changes nothing: the tenant is the key's.
    expect((await call("GET", `/api/v1/runs/${runId}`, keyB, undefined, { "x-tenant-id": tenantA })).statusCode).toBe(404);
    expect((await call("GET", `/api/v1/runs?tenant_id=${tenantA}`, keyB)).statusCode).toBe(400);
    // And the run is still A's, untouched.
    expect((await call("GET", `/api/v1/runs/${runId}`, keyA)).json().status).toBe("succeeded");
  });

  it("answers runtime questions for the key's tenant", async () => {
    const report = await call("POST", "/api/v1/runtime/simulate", keyA, { plan: transformPlan });
    expect(report.json()).toMatchObject({ feasible: true, status: "feasible" });
    const capabilities = (await call("GET", "/api/v1/runtime/capabilities", keyA)).json();
    expect(capabilities.tenant_id).toBe(tenantA);
    const skills = (await call("GET", "/api/v1/runtime/skills", keyA)).json() as { name: string }[];
    expect(skills.map((skill) => skill.name)).toContain("calendar_write");
    expect((await call("GET", "/api/v1/runtime/skills/http_call", keyA)).json()).toMatchObject({ name: "http_call", failures: expect.any(Array) });
    expect((await call("GET", "/api/v1/runtime/skills/nope", keyA)).statusCode).toBe(404);
    const budget = await call("POST", "/api/v1/runtime/query", keyA, { query_type: "remaining_budget" });
    expect(budget.json()).toMatchObject({ query_type: "remaining_budget", tenant_id: tenantA });
  });

  it("limits requests per tenant with 429 and Retry-After, leaving other tenants alone", async () => {
    const { app: limited, contract: limits } = await contractCheckedApi({ db, config: testConfig({ AOS_API_RATE_PER_MINUTE: "3" }), log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await limited.inject({ method: "GET", url: "/api/v1/agents", headers: { authorization: `Bearer ${keyA}` } })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const refused = await limited.inject({ method: "GET", url: "/api/v1/agents", headers: { authorization: `Bearer ${keyA}` } });
    expect(refused.headers["retry-after"]).toBe("20");
    expect(refused.json().error).toMatchObject({ code: "TENANT_RATE_LIMITED", retryable: true });
    expect((await limited.inject({ method: "GET", url: "/api/v1/agents", headers: { authorization: `Bearer ${keyB}` } })).statusCode).toBe(200);
    await limited.close();
    expect(limits.violations).toEqual([]);
  });
});
