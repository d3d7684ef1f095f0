import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ApiMetrics } from "../src/api/metrics.js";
import { buildApi } from "../src/api/server.js";
import type { Database } from "../src/db/database.js";
import { silentLogger } from "../src/logger.js";
import { createApiKey } from "../src/services/api-keys.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { testConfig } from "./support/harness.js";

// Issue 13, point 4: failed authentications are limited per client address, refused before the key's database
// lookup, and a request without a valid key is refused before its body is read. A real server on loopback; the
// client addresses are distinct loopback addresses (127.0.0.2, …), so the server sees them on its sockets.

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error: { code: string; category: string; retryable: boolean; details: Record<string, unknown> } };
}

function get(port: number, from: string, key: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sent = httpRequest({ host: "127.0.0.1", port, localAddress: from, path: "/api/v1/agents", headers: { authorization: `Bearer ${key}`, ...headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) }));
    });
    sent.on("error", reject).end();
  });
}

const unknownKey = () => `aos_${randomBytes(32).toString("base64url")}`;

/** Counts every statement and connection taken through the pool the API authenticates with. */
function counted(db: Database): { db: Database; calls: () => number } {
  let calls = 0;
  const pool = new Proxy(db.pool, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if ((property !== "query" && property !== "connect") || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { db: { ...db, pool }, calls: () => calls };
}

/** `count` requests from one address, `parallel` at a time: a flood, not a polite sequence. */
async function flood(count: number, parallel: number, send: (i: number) => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let start = 0; start < count; start += parallel) {
    answers.push(...(await Promise.all(Array.from({ length: Math.min(parallel, count - start) }, (_, i) => send(start + i)))));
  }
  return answers;
}

const tally = (answers: Answer[]) => answers.reduce<Record<number, number>>((counts, { status }) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

describeOnBackends("failed authentications on $name", (backend) => {
  let db: TestDatabase;
  let validKey: string;
  const opened: { close(): Promise<unknown> }[] = [];

  async function serve(env: Record<string, string>) {
    const config = testConfig({ AOS_API_AUTH_FAILURE_BURST: "5", AOS_API_AUTH_FAILURES_PER_MINUTE: "6", ...env });
    const probe = counted(db);
    const app = buildApi({ db: probe.db, config, log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) });
    opened.push(app);
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    return { port: typeof address === "object" && address !== null ? address.port : 0, calls: probe.calls, config };
  }

  beforeAll(async () => {
    db = await backend.open();
    validKey = (await createApiKey(db, { tenantId: `auth-limits-${backend.name}`, name: "good" })).key;
  });
  afterAll(async () => {
    for (const app of opened) await app.close();
    await db?.close();
  });

  it("refuses a flood of unknown keys from one address with 429 and Retry-After after the burst, looking up no key past it", async () => {
    const { port, calls } = await serve({});
    const before = calls();
    const answers = await flood(300, 30, () => get(port, "127.0.0.2", unknownKey()));
    expect(tally(answers)).toEqual({ 401: 5, 429: 295 });
    // One lookup per 401; the 295 refusals cost none, although 30 were in flight at a time.
    expect(calls() - before).toBe(5);
    const refused = answers.find((answer) => answer.status === 429)!;
    // 6 failures a minute: one earned back every 10 s.
    expect(refused.headers["retry-after"]).toBe("10");
    expect(refused.body).toEqual({
      error: { code: "AUTH_RATE_LIMITED", message: expect.stringContaining("127.0.0.2"), category: "RESOURCE", retryable: true, details: { retry_after_seconds: 10, burst: 5, limit_per_minute: 6 } },
    });
    expect(answers.find((answer) => answer.status === 401)!.body.error).toMatchObject({ code: "UNAUTHENTICATED", category: "PERMISSION", retryable: false });

    // Another address is untouched and a valid key works there.
    expect((await get(port, "127.0.0.3", validKey)).status).toBe(200);
    // The limited address is refused a key not seen lately, without a lookup: telling it from a guess would take
    // the lookup the limit exists to save. A key that just authenticated still works there (a shared address).
    const freshKey = (await createApiKey(db, { tenantId: `auth-limits-${backend.name}`, name: "fresh" })).key;
    const counting = calls();
    expect((await get(port, "127.0.0.2", freshKey)).status).toBe(429);
    expect(calls()).toBe(counting);
    expect((await get(port, "127.0.0.2", validKey)).status).toBe(200);
  });

  it("counts failures only: valid keys are never refused for the failures of their address", async () => {
    const { port } = await serve({});
    expect(tally(await flood(4, 4, () => get(port, "127.0.0.4", unknownKey())))).toEqual({ 401: 4 });
    // One failure left, and a key not seen before: it is looked up, succeeds and gives the failure back.
    const otherKey = (await createApiKey(db, { tenantId: `auth-limits-${backend.name}`, name: "other" })).key;
    expect((await get(port, "127.0.0.4", otherKey)).status).toBe(200);
    expect(tally(await flood(40, 10, () => get(port, "127.0.0.4", otherKey)))).toEqual({ 200: 40 });
    expect((await get(port, "127.0.0.4", unknownKey())).status).toBe(401);
    expect((await get(port, "127.0.0.4", unknownKey())).status).toBe(429);
    expect((await get(port, "127.0.0.4", otherKey)).status).toBe(200);
  });

  it("ignores X-Forwarded-For unless the operator trusts the proxy, and then limits the forwarded address", async () => {
    const untrusting = await serve({});
    const spoofed = await flood(20, 5, (i) => get(untrusting.port, "127.0.0.5", unknownKey(), { "x-forwarded-for": `198.51.100.${i}` }));
    expect(tally(spoofed)).toEqual({ 401: 5, 429: 15 });

    const behindProxy = await serve({ AOS_API_TRUST_PROXY: "127.0.0.1" });
    expect(behindProxy.config.apiTrustProxy).toEqual(["127.0.0.1"]);
    const viaProxy = (client: string, key: string) => get(behindProxy.port, "127.0.0.1", key, { "x-forwarded-for": client });
    expect(tally(await flood(8, 4, () => viaProxy("203.0.113.7", unknownKey())))).toEqual({ 401: 5, 429: 3 });
    const freshKey = (await createApiKey(db, { tenantId: `auth-limits-${backend.name}`, name: "behind a proxy" })).key;
    expect((await viaProxy("203.0.113.7", freshKey)).status).toBe(429);
    expect((await viaProxy("203.0.113.8", freshKey)).status).toBe(200);
  });

  it.each([
    ["10 MB", 10 * 1024 * 1024],
    ["512 KB (under the body limit)", 512 * 1024],
  ])("refuses an unauthenticated %s POST with 401 from its headers, before the body is sent, let alone parsed", async (_size, length) => {
    const { port, calls } = await serve({});
    const before = calls();
    const head = ["POST /api/v1/agents HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", `Content-Length: ${length}`, "Authorization: Bearer not-a-key"];
    // Only the headers and the body's first bytes go out; the server must answer without waiting for the rest.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.6" }, () => socket.write(`${head.join("\r\n")}\r\n\r\n{"name": "`));
      let text = "";
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
        if (/\r\n\r\n\{.*\}$/s.test(text)) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on("error", reject);
      socket.setTimeout(5_000, () => {
        socket.destroy();
        reject(new Error(`no answer before the body; got ${JSON.stringify(text)}`));
      });
    });
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: { code: "UNAUTHENTICATED", category: "PERMISSION" } });
    // Malformed: refused without a lookup.
    expect(calls()).toBe(before);
  });
});
