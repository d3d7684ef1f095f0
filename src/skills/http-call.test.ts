import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { egress, LOOPBACK_OPEN, skillContext } from "../../test/support/skill-context.js";
import type { HostLookup } from "../policy/ssrf-guard.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { createHttpCallSkill, httpCallSkill, type HttpCallInput } from "./http-call.js";

type Received = { method: string; url: string; headers: IncomingHttpHeaders; body: string };

const MAX_BYTES = 4096;

function context(overrides: Partial<SkillContext> = {}): SkillContext {
  return skillContext({
    stepIndex: 2,
    idempotencyKey: "run-1:2",
    egress: LOOPBACK_OPEN,
    limits: { httpMaxResponseBytes: MAX_BYTES, httpDefaultTimeoutMs: 5_000, httpMaxRedirects: 3 },
    ...overrides,
  });
}

function call(raw: Record<string, unknown>, overrides: Partial<SkillContext> = {}, skill: Skill<HttpCallInput> = httpCallSkill): Promise<SkillOutcome> {
  return skill.execute(skill.input.parse(raw), context(overrides));
}

async function readAll(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  const length = Buffer.byteLength(text);
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": length, etag: '"v1"', "set-cookie": "s=1" });
  response.end(text);
}

const TEXT = { "content-type": "text/plain" };

/** Routes of the test server; every request is recorded so tests can assert what arrived. */
function route(request: IncomingMessage, response: ServerResponse, body: string): void {
  const url = new URL(request.url ?? "/", "http://test");
  const [, first, second] = url.pathname.split("/");
  const status = Number(url.searchParams.get("status") ?? "0");
  if (first === "json") return sendJson(response, 200, { hello: "world", items: [1, 2] });
  if (first === "echo") return sendJson(response, 200, { method: request.method, headers: request.headers, body });
  if (first === "status") return void response.writeHead(Number(second), TEXT).end(`status ${second} body`);
  if (first === "redirect" && second === "0") return sendJson(response, 200, { arrived: true });
  if (first === "redirect") return void response.writeHead(302, { location: `/redirect/${Number(second) - 1}` }).end();
  if (first === "to") return void response.writeHead(status || 302, { location: url.searchParams.get("location") ?? "/" }).end();
  if (first === "big") return void response.writeHead(status || 200, TEXT).end("x".repeat(MAX_BYTES * 4));
  if (first === "big-declared") {
    response.writeHead(200, { ...TEXT, "content-length": String(MAX_BYTES * 10) }).flushHeaders();
    return void response.write("x".repeat(100));
  }
  if (first === "trickle") return void response.writeHead(200, TEXT).write("first part, and then nothing");
  if (first === "slow") return void setTimeout(() => sendJson(response, 200, { late: true }), 2_000).unref();
  response.writeHead(404).end();
}

function startServer(host: string, received: Received[]): Promise<{ server: http.Server; origin: string }> {
  const server = http.createServer((request, response) => {
    void readAll(request).then((body) => {
      received.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
      route(request, response, body);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => resolve({ server, origin: `http://${host}:${(server.address() as AddressInfo).port}` }));
  });
}

const received: Received[] = [];
const receivedOnSecond: Received[] = [];
let main: Awaited<ReturnType<typeof startServer>>;
let second: typeof main;

beforeAll(async () => {
  main = await startServer("127.0.0.1", received);
  second = await startServer("127.0.0.2", receivedOnSecond);
});

afterAll(() => {
  for (const { server } of [main, second]) {
    server.closeAllConnections();
    server.close();
  }
});

beforeEach(() => {
  received.length = 0;
  receivedOnSecond.length = 0;
});

describe("http_call success", () => {
  it("GETs JSON and returns it parsed, with only the safe headers", async () => {
    const outcome = await call({ url: `${main.origin}/json` });
    expect(outcome).toEqual({
      status: "ok",
      result: {
        status_code: 200,
        headers: { "content-type": "application/json; charset=utf-8", "content-length": "31", etag: '"v1"' },
        body: { hello: "world", items: [1, 2] },
      },
      sideEffects: { costCents: 0, tokens: 0 },
    });
  });

  it("POSTs an object as JSON, with the step's Idempotency-Key", async () => {
    const outcome = await call({ url: `${main.origin}/echo`, method: "POST", body: { a: 1 }, headers: { "X-Trace": "t1" } });
    expect(outcome.status).toBe("ok");
    const echoed = (outcome.result as { body: { method: string; headers: IncomingHttpHeaders; body: string } }).body;
    expect(echoed.method).toBe("POST");
    expect(JSON.parse(echoed.body)).toEqual({ a: 1 });
    expect(echoed.headers).toMatchObject({ "content-type": "application/json", "idempotency-key": "run-1:2", "x-trace": "t1" });
  });

  it("sends a string body as given, and its own Idempotency-Key on every request", async () => {
    const headers = { "content-type": "text/plain", "Idempotency-Key": "mine" };
    await call({ url: `${main.origin}/echo`, method: "PUT", body: "plain text", headers });
    await call({ url: `${main.origin}/json` });
    expect(received.map((r) => [r.method, r.body, r.headers["idempotency-key"]])).toEqual([
      ["PUT", "plain text", "run-1:2"],
      ["GET", "", "run-1:2"],
    ]);
  });

  it("returns a non-JSON body as text", async () => {
    const outcome = await call({ url: `${main.origin}/status/201` });
    expect(outcome).toMatchObject({ status: "ok", result: { status_code: 201, body: "status 201 body" } });
  });
});

describe("http_call HTTP errors", () => {
  it("reports 404 as HTTP_4XX, not retryable, with status and body but no header values", async () => {
    const outcome = await call({ url: `${main.origin}/status/404?token=abc`, headers: { Authorization: "Bearer s3cret" } });
    expect(outcome).toMatchObject({
      status: "error",
      error: { code: "HTTP_4XX", retryable: false, details: { status_code: 404, body: "status 404 body" } },
    });
    expect(JSON.stringify(outcome)).not.toMatch(/s3cret|token=abc/);
  });

  it("reports 503 as HTTP_5XX, retryable", async () => {
    const outcome = await call({ url: `${main.origin}/status/503` });
    expect(outcome).toMatchObject({ status: "error", error: { code: "HTTP_5XX", retryable: true, details: { status_code: 503 } } });
  });

  it("reports a refused connection as NETWORK_ERROR, retryable", async () => {
    const closed = await startServer("127.0.0.1", []);
    await new Promise((resolve) => closed.server.close(resolve));
    const outcome = await call({ url: `${closed.origin}/json` });
    expect(outcome).toMatchObject({ status: "error", error: { code: "NETWORK_ERROR", retryable: true, details: { code: "ECONNREFUSED" } } });
  });

  it("rejects a header that cannot be sent without echoing its value", () => {
    const parsed = httpCallSkill.input.safeParse({ url: `${main.origin}/json`, headers: { Authorization: "Bearer s3cret\r\nX: y" } });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).not.toContain("s3cret");
  });

  it("refuses headers that would steer or frame the request: Host, Content-Length, Transfer-Encoding, Connection …", () => {
    for (const name of ["Host", "host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "TE", "Expect"]) {
      const parsed = httpCallSkill.input.safeParse({ url: `${main.origin}/json`, headers: { [name]: "internal.example" } });
      expect([name, parsed.success]).toEqual([name, false]);
      expect(parsed.error?.issues[0]?.message).toBe(`header "${name}" is set by the exchange itself, from the URL and the body; leave it out`);
    }
  });
});

describe("http_call limits", () => {
  it("stops reading past the response cap: RESPONSE_TOO_LARGE, not retryable", async () => {
    for (const path of ["big", "big-declared"]) {
      const outcome = await call({ url: `${main.origin}/${path}` });
      expect(outcome).toMatchObject({ status: "error", error: { code: "RESPONSE_TOO_LARGE", retryable: false } });
    }
  });

  it.each(["slow", "trickle"])("gives up on a %s server after timeout_ms: TIMEOUT, retryable", async (path) => {
    const started = Date.now();
    const outcome = await call({ url: `${main.origin}/${path}`, timeout_ms: 100 });
    expect(outcome).toMatchObject({ status: "error", error: { code: "TIMEOUT", retryable: true, details: { timeout_ms: 100 } } });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("truncates an oversized error body instead, keeping a 5xx retryable", async () => {
    const outcome = await call({ url: `${main.origin}/big?status=502` });
    expect(outcome).toMatchObject({ error: { code: "HTTP_5XX", retryable: true, details: { body: "x".repeat(1000) } } });
  });

  it("does not apply the cap to a HEAD response's declared length", async () => {
    const outcome = await call({ url: `${main.origin}/big-declared`, method: "HEAD" });
    expect(outcome).toMatchObject({ status: "ok", result: { status_code: 200, body: "" } });
  });

  it("uses the configured default timeout when the input has none", async () => {
    const limits = { ...context().limits, httpDefaultTimeoutMs: 100 };
    expect(await call({ url: `${main.origin}/slow` }, { limits })).toMatchObject({ error: { code: "TIMEOUT" } });
  });
});

describe("http_call redirects", () => {
  it("follows a chain within httpMaxRedirects", async () => {
    const outcome = await call({ url: `${main.origin}/redirect/3` });
    expect(outcome).toMatchObject({ status: "ok", result: { status_code: 200, body: { arrived: true } } });
    expect(received.map((r) => r.url)).toEqual(["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"]);
  });

  it("stops a longer chain: TOO_MANY_REDIRECTS", async () => {
    const outcome = await call({ url: `${main.origin}/redirect/4` });
    expect(outcome).toMatchObject({ status: "error", error: { code: "TOO_MANY_REDIRECTS", retryable: false } });
  });

  it("returns the redirect itself when follow_redirects is false", async () => {
    const outcome = await call({ url: `${main.origin}/redirect/2`, follow_redirects: false });
    expect(outcome).toMatchObject({ status: "ok", result: { status_code: 302, headers: { location: "/redirect/1" } } });
  });

  it("turns a POST into a GET without body on 303", async () => {
    const outcome = await call({ url: `${main.origin}/to?status=303&location=/echo`, method: "POST", body: { a: 1 } });
    expect(outcome).toMatchObject({ status: "ok", result: { body: { method: "GET", body: "" } } });
  });

  it.each([
    ["a second, unlisted server", () => `${second.origin}/echo`, "127.0.0.2 (loopback)"],
    ["the cloud metadata address", () => "http://169.254.169.254/latest/meta-data/", "(link-local, cloud metadata)"],
  ])("refuses a redirect from an allowed host to %s, without connecting to it", async (_, target, label) => {
    const outcome = await call({ url: `${main.origin}/to?location=${encodeURIComponent(target())}` });
    expect(outcome).toMatchObject({ status: "error", error: { code: "FORBIDDEN_TARGET", retryable: false } });
    expect((outcome as { error: { message: string } }).error.message).toContain(label);
    expect(receivedOnSecond).toHaveLength(0);
  });

  it("follows a redirect to another allowed host, dropping credentials at the origin change", async () => {
    const location = encodeURIComponent(`${second.origin}/echo`);
    const headers = { Authorization: "Bearer s3cret", "X-Keep": "1" };
    const outcome = await call({ url: `${main.origin}/to?location=${location}`, headers }, { egress: egress("127.0.0.1, 127.0.0.2") });
    expect(outcome.status).toBe("ok");
    expect(received[0]?.headers.authorization).toBe("Bearer s3cret");
    expect(receivedOnSecond[0]?.headers).toMatchObject({ "x-keep": "1", "idempotency-key": "run-1:2" });
    expect(receivedOnSecond[0]?.headers.authorization).toBeUndefined();
  });
});

describe("http_call SSRF guard", () => {
  it("refuses loopback unless the operator opened it, before connecting", async () => {
    const outcome = await call({ url: `${main.origin}/json` }, { egress: egress() });
    expect(outcome).toMatchObject({ status: "error", error: { code: "FORBIDDEN_TARGET", retryable: false } });
    expect((outcome as { error: { message: string } }).error.message).toBe(
      "blocked request to 127.0.0.1 (loopback): the egress floor blocks it; only the operator can open it, with AOS_EGRESS_ALLOW (an agent's allowed_hosts cannot)",
    );
    expect(received).toHaveLength(0);
  });

  it("connects to the address it checked, keeping the original Host header", async () => {
    const lookup: HostLookup = async (hostname) => (hostname === "api.test" ? [{ address: "127.0.0.1", family: 4 }] : []);
    const skill = createHttpCallSkill(lookup);
    const port = new URL(main.origin).port;
    const refused = await call({ url: `http://api.test:${port}/echo` }, { egress: egress() }, skill);
    expect(refused).toMatchObject({ error: { code: "FORBIDDEN_TARGET", message: expect.stringContaining("api.test, which resolves to 127.0.0.1") } });
    const allowed = await call({ url: `http://api.test:${port}/echo` }, { egress: egress("api.test") }, skill);
    expect(allowed).toMatchObject({ status: "ok", result: { body: { headers: { host: `api.test:${port}` } } } });
  });
});

describe("http_call cancellation", () => {
  it("returns CANCELLED at once when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    const outcome = await call({ url: `${main.origin}/json` }, { signal: controller.signal });
    expect(outcome).toMatchObject({ status: "error", error: { code: "CANCELLED", retryable: false } });
    expect(received).toHaveLength(0);
  });

  it("stops a request in flight when the step is cancelled", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const outcome = await call({ url: `${main.origin}/slow` }, { signal: controller.signal });
    expect(outcome).toMatchObject({ error: { code: "CANCELLED" } });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("reports the executor's reason when it aborts with an AppError", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(AppError.retryable("TIMEOUT", "step timed out after 50 ms")), 50);
    const outcome = await call({ url: `${main.origin}/slow` }, { signal: controller.signal });
    expect(outcome).toMatchObject({ error: { code: "TIMEOUT", message: "step timed out after 50 ms", retryable: true } });
  });
});
