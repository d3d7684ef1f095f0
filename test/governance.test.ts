import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent, listTenantAgents } from "../src/services/agents.js";
import { setPolicy, showPolicy } from "../src/services/policies.js";
import { getRunProof } from "../src/services/proofs.js";
import { createRun, getRunDetail } from "../src/services/runs.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";
import { type LoopbackServer, startLoopbackServer } from "./support/http-server.js";

const config = testConfig();
/** The same home and keys, with loopback opened in the egress floor by the operator, as the local server needs. */
const loopbackOpen = testConfig({ AOS_HOME: config.home, AOS_EGRESS_ALLOW: "127.0.0.1" });

const transform = (stepId: string) => ({ step_id: stepId, skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } });
const costly = (stepId: string, cost: number, tokens = 0) => ({
  step_id: stepId,
  skill: "fail_trigger",
  params: { fail_times: 0, cost_cents: cost, tokens },
});

describeOnBackends("step policy on $name", (backend) => {
  let db: TestDatabase;
  let server: LoopbackServer;
  let tenantCount = 0;
  const freshTenant = () => `tenant-gov-${++tenantCount}`;

  beforeAll(async () => {
    db = await backend.open();
    server = await startLoopbackServer((req, res) => {
      if (req.url === "/hop") {
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" });
        return res.end();
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
  });
  afterAll(async () => {
    await server?.close();
    await db?.close();
  });

  it("denies a skill the policy does not allow: the step is recorded blocked, the run halts, the proof verifies", async () => {
    const tenantId = freshTenant();
    await setPolicy(db, { tenantId, document: { allowed_skills: ["json_transform"] } });
    const detail = await runToEnd(db, config, { tenantId, goal: "g", plan: { steps: [transform("ok"), costly("no", 0)] } });
    expect(detail.run.status).toBe("halted");
    expect(detail.run.errorMessage).toMatch(/^Policy violation: allowed_skills: /);
    expect(detail.trace?.status).toBe("aborted");
    expect(detail.steps.map((step) => [step.stepId, step.status])).toEqual([
      ["ok", "succeeded"],
      ["no", "blocked"],
    ]);
    const blocked = detail.steps[1]!;
    expect(blocked.decision).toMatchObject({ action: "deny", policy_id: "allowed_skills" });
    expect(detail.steps[0]!.decision).toMatchObject({ action: "allow" });
    expect(blocked.decision?.policy_hash).toBe(detail.steps[0]!.decision?.policy_hash);
    expect((await getRunProof(db, config, tenantId, detail.run.id)).verification_status).toBe("VERIFIED");
  });

  const ssrfTargets = [
    "http://127.0.0.1/x",
    "http://[::1]/x",
    "http://10.1.2.3/x",
    "http://172.16.0.1/x",
    "http://192.168.1.1/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/x",
    "http://localhost/x",
  ];
  it.each(ssrfTargets)("denies http_call to %s before it runs (SSRF guard)", async (url) => {
    const tenantId = freshTenant();
    const detail = await runToEnd(db, config, { tenantId, goal: "g", plan: { steps: [{ step_id: "s", skill: "http_call", params: { url } }] } });
    expect(detail.run.status).toBe("halted");
    expect(detail.run.errorMessage).toMatch(/^Policy violation: ssrf_guard: blocked request to /);
    expect(detail.steps[0]).toMatchObject({ status: "blocked", decision: { action: "deny", policy_id: "ssrf_guard" } });
  });

  it.each(ssrfTargets)("denies http_call to %s even when the agent lists it: a tenant cannot open the egress floor", async (url) => {
    const tenantId = freshTenant();
    const host = new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
    const agent = await createAgent(db, { tenantId, name: "opener", allowedHosts: [host] });
    const detail = await runToEnd(db, config, { tenantId, agentId: agent.id, goal: "g", plan: { steps: [{ step_id: "s", skill: "http_call", params: { url } }] } });
    expect(detail.run.errorMessage).toMatch(/^Policy violation: ssrf_guard: blocked request to .*only the operator can open it, with AOS_EGRESS_ALLOW/);
  });

  it("refuses allowed_hosts entries that are not hosts, naming the entry, and writes no agent", async () => {
    const tenantId = freshTenant();
    for (const entry of ["*", "0.0.0.0/0", "http://x/", "*.example.com", "a b", "", "host:99999", "[api.example.com]"]) {
      await expect(createAgent(db, { tenantId, name: "wide", allowedHosts: [entry] })).rejects.toMatchObject({
        code: "VALIDATION_ERROR",
        message: expect.stringContaining(`allowed_hosts entry ${JSON.stringify(entry)}`),
      });
    }
    expect(await listTenantAgents(db, tenantId)).toEqual([]);
    const agent = await createAgent(db, { tenantId, name: "narrow", allowedHosts: ["API.Example.com.", "10.0.0.5:8080", "[::1]:8443", "::1"] });
    expect(agent.allowedHosts).toEqual(["api.example.com", "10.0.0.5:8080", "[::1]:8443", "::1"]);
  });

  it("narrows: an agent that lists hosts reaches only those, even public ones the floor lets through", async () => {
    const tenantId = freshTenant();
    const agent = await createAgent(db, { tenantId, name: "narrow", allowedHosts: ["api.example.com"] });
    const detail = await runToEnd(db, loopbackOpen, { tenantId, agentId: agent.id, goal: "g", plan: { steps: [{ step_id: "s", skill: "http_call", params: { url: `${server.url}/` } }] } });
    expect(detail.run.errorMessage).toMatch(/^Policy violation: ssrf_guard: blocked request to 127\.0\.0\.1: it is not in the agent's allowed_hosts \(api\.example\.com\)/);
  });

  it("denies a host on the deny list even when the agent may reach it, and catches a redirect to a blocked address", async () => {
    const tenantId = freshTenant();
    const agent = await createAgent(db, { tenantId, name: "local", allowedHosts: [server.host] });
    const call = (path: string) => ({ steps: [{ step_id: "s", skill: "http_call", params: { url: `${server.url}${path}` } }] });
    const reached = await runToEnd(db, loopbackOpen, { tenantId, agentId: agent.id, goal: "g", plan: call("/") });
    expect(reached.run.status).toBe("succeeded");
    const redirected = await runToEnd(db, loopbackOpen, { tenantId, agentId: agent.id, goal: "g", plan: call("/hop") });
    expect(redirected.run.status).toBe("failed");
    expect(redirected.steps.map((step) => step.status)).toEqual(["started", "failed"]);
    expect(redirected.steps.at(-1)).toMatchObject({ status: "failed", outcomeCode: "FORBIDDEN_TARGET" });
    await setPolicy(db, { tenantId, document: { http: { deny_hosts: ["127.0.0.1"] } } });
    const denied = await runToEnd(db, loopbackOpen, { tenantId, agentId: agent.id, goal: "g", plan: call("/") });
    expect(denied.run.errorMessage).toMatch(/^Policy violation: http\.deny_hosts: /);
  });

  it("applies host rules to endpoints from configuration too: a Slack webhook, a model provider", async () => {
    const tenantId = freshTenant();
    const agent = await createAgent(db, { tenantId, name: "notifier", allowedHosts: [server.host] });
    const slackConfig = testConfig({ SLACK_WEBHOOK_URL: `${server.url}/slack`, AOS_EGRESS_ALLOW: "127.0.0.1" });
    await setPolicy(db, { tenantId, document: { http: { deny_hosts: [server.host] } } });
    const before = server.requests.length;
    const slack = await runToEnd(db, slackConfig, { tenantId, agentId: agent.id, goal: "g", plan: { steps: [{ step_id: "s", skill: "slack_send", params: { text: "hi" } }] } });
    expect(slack.run.errorMessage).toMatch(/^Policy violation: http\.deny_hosts: host "127\.0\.0\.1" is in deny_hosts/);
    expect(server.requests.length).toBe(before);

    const other = freshTenant();
    await setPolicy(db, { tenantId: other, document: { http: { allow_hosts: ["example.com"] } } });
    const ask = { step_id: "a", skill: "llm_invoke", params: { provider: "anthropic", messages: [{ role: "user", content: "hi" }] } };
    const model = await runToEnd(db, config, { tenantId: other, goal: "g", plan: { steps: [ask] } });
    expect(model.run.errorMessage).toMatch(/^Policy violation: http\.allow_hosts: host "api\.anthropic\.com" is not in allow_hosts/);
    const offline = await runToEnd(db, config, { tenantId: other, goal: "g", plan: { steps: [{ ...ask, params: { ...ask.params, provider: "local" } }] } });
    expect(offline.run.status).toBe("succeeded");
  });

  it("denies by per-step cost cap, per-run cost cap, token cap and steps per minute", async () => {
    const stepCap = freshTenant();
    await setPolicy(db, { tenantId: stepCap, document: { caps: { step_cost_cents: 5 } } });
    const a = await runToEnd(db, config, { tenantId: stepCap, goal: "g", plan: { steps: [costly("cheap", 5), costly("dear", 6)] } });
    expect(a.run.errorMessage).toMatch(/^Policy violation: caps\.step_cost_cents: /);
    expect(a.steps.map((step) => step.status)).toEqual(["succeeded", "blocked"]);

    const runCap = freshTenant();
    await setPolicy(db, { tenantId: runCap, document: { caps: { run_cost_cents: 10 } } });
    const b = await runToEnd(db, config, { tenantId: runCap, goal: "g", plan: { steps: [costly("one", 6), costly("two", 6)] } });
    expect(b.run.errorMessage).toMatch(/^Policy violation: caps\.run_cost_cents: /);
    expect(b.run.costCents).toBe(6);

    const tokenCap = freshTenant();
    await setPolicy(db, { tenantId: tokenCap, document: { caps: { run_tokens: 100 } } });
    const c = await runToEnd(db, config, { tenantId: tokenCap, goal: "g", plan: { steps: [costly("one", 0, 80), costly("two", 0, 30)] } });
    expect(c.run.errorMessage).toMatch(/^Policy violation: caps\.run_tokens: /);

    const rate = freshTenant();
    await setPolicy(db, { tenantId: rate, document: { steps_per_minute: 2 } });
    const d = await runToEnd(db, config, { tenantId: rate, goal: "g", plan: { steps: [transform("a"), transform("b"), transform("c")] } });
    expect(d.run.errorMessage).toMatch(/^Policy violation: steps_per_minute: /);
    expect(d.steps.map((step) => step.status)).toEqual(["succeeded", "succeeded", "blocked"]);
  });

  it("lets an agent policy narrow its tenant's, and stops everything on an emergency stop", async () => {
    const tenantId = freshTenant();
    const agent = await createAgent(db, { tenantId, name: "narrow" });
    await setPolicy(db, { tenantId, document: { allowed_skills: ["json_transform", "fail_trigger"] } });
    await setPolicy(db, { tenantId, agentId: agent.id, document: { allowed_skills: ["json_transform"] } });
    const view = await showPolicy(db, tenantId, agent.id);
    expect(view.effective.document.allowed_skills).toEqual(["json_transform"]);
    const narrowed = await runToEnd(db, config, { tenantId, agentId: agent.id, goal: "g", plan: { steps: [costly("x", 0)] } });
    expect(narrowed.run.errorMessage).toMatch(/^Policy violation: allowed_skills: /);
    await setPolicy(db, { tenantId, document: { emergency_stop: true } });
    const stopped = await runToEnd(db, config, { tenantId, goal: "g", plan: { steps: [transform("x")] } });
    expect(stopped.run.errorMessage).toMatch(/^Policy violation: emergency_stop: /);
  });

  it("fails closed: a policy that cannot be evaluated halts the run with Enforcement skipped", async () => {
    const tenantId = freshTenant();
    await setPolicy(db, { tenantId, document: { steps_per_minute: 5 } });
    // A row no validator would accept, as only a direct database write could leave it.
    await db.pool.query("insert into policies (id, tenant_id, version, document, content_hash) values ('broken', $1, 99, '{\"caps\": \"lots\"}', repeat('0', 64))", [tenantId]);
    const detail = await runToEnd(db, config, { tenantId, goal: "g", plan: { steps: [transform("x")] } });
    expect(detail.run.status).toBe("halted");
    expect(detail.run.errorMessage).toMatch(/^Enforcement skipped: /);
    expect(detail.steps[0]).toMatchObject({ status: "blocked", outcomeCode: "ENFORCEMENT_SKIPPED", decision: { action: "deny", policy_id: "enforcement" } });
  });

  it("does not halt a run when the policy cannot be read for a database failure: the claim fails and the run can be retried", async () => {
    const tenantId = freshTenant();
    const run = await createRun(runnerDeps(db, config), { tenantId, goal: "g", plan: { steps: [transform("x")] } });
    await db.pool.query("alter table policies rename to policies_away");
    try {
      await expect(claimAndExecute(runnerDeps(db, config), run.id, "test-worker")).rejects.toThrow();
    } finally {
      await db.pool.query("alter table policies_away rename to policies");
    }
    const detail = await getRunDetail(db, config, tenantId, run.id);
    expect(detail.run.status).toBe("running");
    expect(detail.steps).toEqual([]);
  });

  it("validates policy files with clear errors and versions them", async () => {
    const tenantId = freshTenant();
    await expect(setPolicy(db, { tenantId, document: { caps: { step_cost_cents: -1 } } })).rejects.toThrow(/caps\.step_cost_cents/);
    await expect(setPolicy(db, { tenantId, document: { allowed_skills: ["nope"] } })).rejects.toThrow(/nope/);
    await expect(setPolicy(db, { tenantId, document: { surprise: 1 } })).rejects.toThrow(/surprise/);
    const first = await setPolicy(db, { tenantId, document: { steps_per_minute: 10 }, createdBy: "ops" });
    const second = await setPolicy(db, { tenantId, document: { steps_per_minute: 20 } });
    expect([first.version, second.version]).toEqual([1, 2]);
    expect(first.contentHash).not.toBe(second.contentHash);
    await expect(db.pool.query("update policies set version = 7 where id = $1", [first.id])).rejects.toThrow(/versioned/);
  });
});
