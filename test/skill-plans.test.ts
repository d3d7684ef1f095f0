import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Agent } from "../src/glossary.js";
import { createAgent } from "../src/services/agents.js";
import type { RunDetail } from "../src/views/run.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { chainProblems, runToEnd, testConfig } from "./support/harness.js";
import { type LoopbackServer, sendJson, startLoopbackServer } from "./support/http-server.js";

// The issue's plan: http_call → json_transform → webhook_send, each skill against a real peer on loopback, the
// later steps fed by `{{…}}` references to the earlier ones' results, and the delivery verified the way a
// receiver verifies it: HMAC-SHA256 over "<timestamp>.<raw body>" with the shared secret.

const SECRET = "whsec-plan-test-7d1e";
// Loopback opened in the egress floor by the operator: both peers listen on 127.0.0.1.
const config = testConfig({ WEBHOOK_SECRET: SECRET, AOS_EGRESS_ALLOW: "127.0.0.1" });

const ORDER = {
  id: "A-1001",
  customer: { name: "Ada Lovelace", email: "ada@example.com" },
  items: [
    { sku: "tea", qty: 2, price_cents: 450 },
    { sku: "scone", qty: 3, price_cents: 300 },
  ],
  total_cents: 1800,
};

/** The payload step 3 should deliver once steps 1 and 2 have run: references resolved, numbers kept numbers. */
const DELIVERED = {
  event: "order.summarised",
  order_id: "A-1001",
  total_cents: 1800,
  line: "Order A-1001 for Ada Lovelace ends with scone",
};

/** A receiver's check: recompute the signature from the raw body and the timestamp header, compare in constant time. */
function signatureValid(headers: IncomingMessage["headers"], rawBody: string): boolean {
  const timestamp = headers["x-signature-timestamp"];
  const signature = headers["x-signature-256"];
  if (typeof timestamp !== "string" || typeof signature !== "string") return false;
  const expected = `sha256=${createHmac("sha256", SECRET).update(`${timestamp}.${rawBody}`, "utf8").digest("hex")}`;
  return expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}

/**
 * /hooks/ok takes every verified delivery; /hooks/flaky answers 500 to the first delivery of an Idempotency-Key and
 * 200 to its repeats, as a receiver whose database blinked would; /hooks/bad refuses every delivery with 400.
 */
async function startReceiver(): Promise<LoopbackServer> {
  const receiver: LoopbackServer = await startLoopbackServer((req, res, body) => receive(req, res, body, receiver.requests));
  return receiver;
}

/** `received` holds every request so far, this one included (the server records a request before answering it). */
function receive(req: IncomingMessage, res: ServerResponse, body: string, received: LoopbackServer["requests"]): void {
  if (!signatureValid(req.headers, body)) return sendJson(res, 401, { error: "bad signature" });
  const key = String(req.headers["idempotency-key"]);
  if (req.url === "/hooks/ok") return sendJson(res, 200, { received: key });
  if (req.url === "/hooks/flaky") {
    const seen = received.filter((request) => request.path === "/hooks/flaky" && request.headers["idempotency-key"] === key);
    return seen.length === 1 ? sendJson(res, 500, { error: "try again" }) : sendJson(res, 200, { received: key });
  }
  if (req.url === "/hooks/bad") return sendJson(res, 400, { error: "unknown event" });
  sendJson(res, 404, { error: "no such hook" });
}

function plan(api: LoopbackServer, receiver: LoopbackServer, hookPath: string) {
  return {
    steps: [
      { step_id: "fetch", skill: "http_call", output_key: "order", params: { url: `${api.url}/orders/A-1001` } },
      {
        step_id: "shape",
        skill: "json_transform",
        output_key: "summary",
        params: {
          payload: "{{order.body}}",
          mapping: { order_id: "id", customer: "customer.name", last_sku: "items[-1].sku", total_cents: "total_cents" },
        },
      },
      {
        step_id: "notify",
        skill: "webhook_send",
        params: {
          url: `${receiver.url}${hookPath}`,
          payload: {
            event: "order.summarised",
            order_id: "{{summary.order_id}}",
            total_cents: "{{summary.total_cents}}",
            line: "Order {{summary.order_id}} for {{summary.customer}} ends with {{summary.last_sku}}",
          },
        },
      },
    ],
  };
}

/** Each trace row as [step_index, skill, attempt, status, outcome code]: intent rows (`started`) included. */
function rowsOf(detail: RunDetail): [number, string, number, string, string][] {
  return detail.steps.map((step) => [step.stepIndex, step.skillName, step.attempt, step.status, step.outcomeCode]);
}

function deliveriesTo(receiver: LoopbackServer, path: string, runId: string) {
  return receiver.requests.filter((request) => request.path === path && request.headers["idempotency-key"] === `${runId}:2`);
}

describeOnBackends("an http_call → json_transform → webhook_send plan on $name", (backend) => {
  let db: TestDatabase;
  let api: LoopbackServer;
  let receiver: LoopbackServer;
  let agent: Agent;

  beforeAll(async () => {
    db = await backend.open();
    api = await startLoopbackServer((req, res) => {
      if (req.method === "GET" && req.url === "/orders/A-1001") return sendJson(res, 200, ORDER);
      sendJson(res, 404, { error: "no such order" });
    });
    receiver = await startReceiver();
    // The agent may reach only 127.0.0.1, which the operator opened above.
    agent = await createAgent(db, { tenantId: "tenant-plans", name: "order-notifier", allowedHosts: ["127.0.0.1"] });
  });
  afterAll(async () => {
    await receiver?.close();
    await api?.close();
    await db?.close();
  });

  const run = (hookPath: string, goal: string) =>
    runToEnd(db, config, { tenantId: "tenant-plans", agentId: agent.id, goal, plan: plan(api, receiver, hookPath) });

  it("fetches, reshapes and delivers: the receiver gets one signed request carrying the interpolated values", async () => {
    const before = Math.floor(Date.now() / 1000);
    const detail = await run("/hooks/ok", "notify about order A-1001");
    const after = Math.floor(Date.now() / 1000);

    expect(detail.run.status).toBe("succeeded");
    expect(api.requests.filter((request) => request.headers["idempotency-key"] === `${detail.run.id}:0`)).toHaveLength(1);
    const deliveries = deliveriesTo(receiver, "/hooks/ok", detail.run.id);
    expect(deliveries).toHaveLength(1);
    const [delivery] = deliveries;
    expect(delivery?.method).toBe("POST");
    expect(delivery?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(delivery?.body ?? "null")).toEqual(DELIVERED);
    // The body is canonical JSON (sorted keys), the bytes the signature covers.
    expect(delivery?.body).toBe(
      '{"event":"order.summarised","line":"Order A-1001 for Ada Lovelace ends with scone","order_id":"A-1001","total_cents":1800}',
    );

    const timestamp = String(delivery?.headers["x-signature-timestamp"]);
    expect(timestamp).toMatch(/^\d+$/);
    expect(Number(timestamp)).toBeGreaterThanOrEqual(before);
    expect(Number(timestamp)).toBeLessThanOrEqual(after);
    const recomputed = createHmac("sha256", SECRET).update(`${timestamp}.${delivery?.body}`).digest("hex");
    expect(delivery?.headers["x-signature-256"]).toBe(`sha256=${recomputed}`);
    expect(delivery?.headers["idempotency-key"]).toBe(`${detail.run.id}:2`);

    // Every call that leaves the process, the GET's included, is preceded by an intent row.
    expect(rowsOf(detail)).toEqual([
      [0, "http_call", 1, "started", "started"],
      [0, "http_call", 1, "succeeded", "ok"],
      [1, "json_transform", 1, "succeeded", "ok"],
      [2, "webhook_send", 1, "started", "started"],
      [2, "webhook_send", 1, "succeeded", "ok"],
    ]);
    const outcomes = detail.steps.filter((step) => step.status !== "started");
    expect(outcomes.map((step) => [step.stepId, step.skillName, step.status])).toEqual([
      ["fetch", "http_call", "succeeded"],
      ["shape", "json_transform", "succeeded"],
      ["notify", "webhook_send", "succeeded"],
    ]);
    expect(outcomes[0]?.outcomeData).toMatchObject({ status_code: 200, body: ORDER });
    expect(outcomes[1]?.outcomeData).toEqual({ order_id: "A-1001", customer: "Ada Lovelace", last_sku: "scone", total_cents: 1800 });
    expect(outcomes[2]?.params).toMatchObject({ payload: DELIVERED });
    expect(outcomes[2]?.outcomeData).toEqual({
      status_code: 200,
      delivered: true,
      signature_timestamp: Number(timestamp),
      response_body: JSON.stringify({ received: `${detail.run.id}:2` }),
    });
    expect(chainProblems(detail)).toEqual([]);
    expect(JSON.stringify(detail)).not.toContain(SECRET);
  });

  it("retries a delivery the receiver failed with 500, under the same Idempotency-Key, and succeeds on attempt 2", async () => {
    const detail = await run("/hooks/flaky", "notify a flaky receiver");

    expect(detail.run.status).toBe("succeeded");
    const deliveries = deliveriesTo(receiver, "/hooks/flaky", detail.run.id);
    expect(deliveries).toHaveLength(2);
    expect(deliveries.map((request) => request.headers["idempotency-key"])).toEqual([`${detail.run.id}:2`, `${detail.run.id}:2`]);
    expect(deliveries.map((request) => request.body)).toEqual([deliveries[0]?.body, deliveries[0]?.body]);
    for (const request of deliveries) expect(signatureValid(request.headers, request.body)).toBe(true);
    expect(rowsOf(detail)).toEqual([
      [0, "http_call", 1, "started", "started"],
      [0, "http_call", 1, "succeeded", "ok"],
      [1, "json_transform", 1, "succeeded", "ok"],
      [2, "webhook_send", 1, "started", "started"],
      [2, "webhook_send", 1, "failed", "HTTP_5XX"],
      [2, "webhook_send", 2, "started", "started"],
      [2, "webhook_send", 2, "succeeded", "ok"],
    ]);
    expect(detail.steps[4]?.error).toMatchObject({ code: "HTTP_5XX", category: "TRANSIENT", retryable: true, details: { status_code: 500 } });
    expect(chainProblems(detail)).toEqual([]);
  });

  it("fails the run on a 400 without retrying it, and records the run's incident", async () => {
    const detail = await run("/hooks/bad", "notify a receiver that refuses");

    expect(detail.run.status).toBe("failed");
    expect(deliveriesTo(receiver, "/hooks/bad", detail.run.id)).toHaveLength(1);
    expect(rowsOf(detail)).toEqual([
      [0, "http_call", 1, "started", "started"],
      [0, "http_call", 1, "succeeded", "ok"],
      [1, "json_transform", 1, "succeeded", "ok"],
      [2, "webhook_send", 1, "started", "started"],
      [2, "webhook_send", 1, "failed", "HTTP_4XX"],
    ]);
    expect(detail.steps.at(-1)?.error).toMatchObject({
      code: "HTTP_4XX",
      category: "PERMANENT",
      retryable: false,
      details: { status_code: 400, body: JSON.stringify({ error: "unknown event" }) },
    });
    expect(detail.run.errorMessage).toBe(`step_failed:notify:${receiver.url}/hooks/bad answered 400`);
    expect(detail.trace?.status).toBe("failed");
    expect(detail.incident).toMatchObject({
      runId: detail.run.id,
      outcome: "FAILURE",
      status: "OPEN",
      severity: "HIGH",
      category: "EXECUTION_FAILURE",
      errorCode: "STEP_FAILURE",
      errorMessage: detail.run.errorMessage,
    });
    expect(chainProblems(detail)).toEqual([]);
  });
});
