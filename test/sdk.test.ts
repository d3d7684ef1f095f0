import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { ApiMetrics } from "../src/api/metrics.js";
import { buildApi } from "../src/api/server.js";
import { AosClient, AosError, type RunEvent, verifyProofBundle } from "../src/client/index.js";
import { silentLogger } from "../src/logger.js";
import { createApiKey } from "../src/services/api-keys.js";
import { setPolicy } from "../src/services/policies.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { runWorker } from "../src/worker/loop.js";
import { type Contract, contractCheckedApi } from "./support/contract.js";
import { type TestDatabase, describeOnBackends } from "./support/databases.js";
import { runnerDeps, testConfig } from "./support/harness.js";
import { type LoopbackServer, sendJson, startLoopbackServer } from "./support/http-server.js";

// The SDK against the API over a real socket, with a worker executing the runs: the walk a user takes. Every
// response is held to the served spec.

// Loopback opened in the egress floor by the operator: the agent's http_call reaches this test's own server.
const config = testConfig({ AOS_WORKER_POLL_MS: "20", AOS_API_EVENTS_POLL_MS: "20", AOS_EGRESS_ALLOW: "127.0.0.1" });
const tenantOf = (backend: string) => `sdk-${backend}`;

describeOnBackends("the SDK against the API on $name", (backend) => {
  let db: TestDatabase;
  let app: ReturnType<typeof buildApi>;
  let contract: Contract;
  let upstream: LoopbackServer;
  let client: AosClient;
  const stop = new AbortController();
  let worker: Promise<unknown>;

  beforeAll(async () => {
    db = await backend.open();
    upstream = await startLoopbackServer((_req, res) => sendJson(res, 200, { order: "A-17", total_cents: 4200 }));
    const { key } = await createApiKey(db, { tenantId: tenantOf(backend.name), name: "sdk" });
    ({ app, contract } = await contractCheckedApi({ db, config, log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) }));
    const address = await app.listen({ port: 0, host: "127.0.0.1" });
    client = new AosClient({ baseUrl: address, apiKey: key });
    worker = runWorker(runnerDeps(db, config), { id: `sdk-worker-${backend.name}`, concurrency: 2, signal: stop.signal });
  });
  afterEach(() => {
    const broken = contract.violations.splice(0);
    expect(broken).toEqual([]);
  });
  afterAll(async () => {
    stop.abort();
    await worker;
    await app?.close();
    await upstream?.close();
    await db?.close();
  });

  it("creates an agent, posts a goal, follows its events, and verifies the proof bundle offline", async () => {
    const agent = await client.createAgent({ name: "fetcher", allowed_hosts: ["127.0.0.1"] });
    expect(agent).toMatchObject({ name: "fetcher", allowed_hosts: ["127.0.0.1"] });
    const accepted = await client.postGoal(agent.agent_id, `Fetch ${upstream.url}/order`);
    expect(accepted.status).toBe("queued");

    const events: RunEvent[] = [];
    for await (const event of client.events(accepted.run_id)) events.push(event);
    expect(events.at(-1)).toEqual({ event: "end", data: { run_id: accepted.run_id, status: "succeeded" } });
    const steps = events.flatMap((event) => (event.event === "step" ? [event.data] : []));
    expect(steps.map((step) => [step.skill, step.status])).toContainEqual(["http_call", "succeeded"]);
    expect(events.filter((event) => event.event === "status").map((event) => event.data.status)).toContain("succeeded");
    // The call's start is told once, with its decision, before any row of it (its intent row included).
    const started = events.flatMap((event, at) => (event.event === "step_started" ? [{ at, data: event.data }] : []));
    expect(started.map(({ data }) => [data.step_id, data.skill, data.attempt, data.decision?.action])).toEqual([[steps[0]?.step_id, "http_call", 1, "allow"]]);
    const firstRow = events.findIndex((event) => event.event === "step");
    expect(started[0]!.at).toBeLessThan(firstRow);

    const run = await client.waitForRun(accepted.run_id);
    expect(run.status).toBe("succeeded");
    expect(run.steps.at(-1)?.outcome?.result).toMatchObject({ status_code: 200 });
    const keys = await client.getKeys();
    const verdict = verifyProofBundle(await client.getProofBundle(accepted.run_id), keys.verification_keys);
    expect(verdict).toMatchObject({ run_id: accepted.run_id, verification_status: "VERIFIED", signature_valid: true });
    expect((await client.getProof(accepted.run_id)).verification_status).toBe("VERIFIED");
  });

  it("ends waitForRun on every terminal status, and on a run parked for approval", async () => {
    const halted = await client.createRun({ goal: "fail", plan: { steps: [{ step_id: "f", skill: "fail_trigger", params: { retryable: false } }] } });
    expect((await client.waitForRun(halted.run_id, { timeoutMs: 20_000, intervalMs: 20 })).status).toBe("failed");
    // A running run is cancelled between its steps.
    const slow = { step_id: "s", skill: "fail_trigger", params: { delay_ms: 200, fail_times: 0 } };
    const cancelled = await client.createRun({ goal: "slow", plan: { steps: [slow, { ...slow, step_id: "t" }, { ...slow, step_id: "u" }] } });
    await client.cancelRun(cancelled.run_id);
    expect((await client.waitForRun(cancelled.run_id, { timeoutMs: 20_000, intervalMs: 20 })).status).toBe("cancelled");

    const careful = await client.createAgent({ name: "careful" });
    await setPolicy(db, { tenantId: tenantOf(backend.name), agentId: careful.agent_id, document: { require_approval: ["fail_trigger"] } });
    const parked = await client.createRun({ goal: "ask first", agent_id: careful.agent_id, plan: { steps: [{ ...slow, params: { fail_times: 0 } }] } });
    expect((await client.waitForRun(parked.run_id, { timeoutMs: 20_000, intervalMs: 20 })).status).toBe("pending_approval");
    await client.approveRun(parked.run_id, "alice");
    expect((await client.waitForRun(parked.run_id, { timeoutMs: 20_000, intervalMs: 20 })).status).toBe("succeeded");
  });

  it("simulates, queries and describes; failures are AosErrors with the envelope's fields", async () => {
    const report = await client.simulate({ steps: [{ step_id: "a", skill: "json_transform", params: { payload: {}, mapping: {} } }] });
    expect(report.feasible).toBe(true);
    expect((await client.query("allowed_skills")).answer).toMatchObject({ allowed: expect.arrayContaining(["http_call"]) });
    expect((await client.describeSkill("kv_store")).name).toBe("kv_store");
    expect((await client.getCapabilities()).skills.length).toBeGreaterThan(10);
    expect(await client.readyz()).toEqual({ status: "ready", database: db.kind });
    expect(await client.metrics()).toContain("aos_queue_depth");
    const agent = await client.createAgent({ name: "asked by a person" });
    const asked = await client.postGoal(agent.agent_id, "Say hello", { origin_system_id: "crm", actor_type: "HUMAN", actor_id: "alice" });
    expect((await client.getRun(asked.run_id)).origin_system_id).toBe("crm");
    const noActor = await client.postGoal(agent.agent_id, "Say hello", { actor_type: "HUMAN" }).catch((thrown: unknown) => thrown);
    expect(noActor).toMatchObject({ status: 400, code: "VALIDATION_ERROR", message: expect.stringContaining("body.actor_id") });
    const error = await client.getRun("00000000-0000-0000-0000-000000000000").catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(AosError);
    expect(error).toMatchObject({ status: 404, code: "RUN_NOT_FOUND", category: "VALIDATION", retryable: false });
    const unauthenticated = await new AosClient({ baseUrl: (client as unknown as { baseUrl: string }).baseUrl, apiKey: "nope" }).listRuns().catch((thrown: unknown) => thrown);
    expect(unauthenticated).toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
  });
});
