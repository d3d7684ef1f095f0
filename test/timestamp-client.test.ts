import { afterEach, describe, expect, it } from "vitest";
import type { Egress } from "../src/egress.js";
import { AppError } from "../src/errors.js";
import { requestTimestamp } from "../src/tenant-log/timestamp-client.js";
import { verifyTimestampToken } from "../src/trace/timestamp-token.js";
import { testConfig } from "./support/harness.js";
import { opensslAccepts, sendReply, startTsa, startTsaServer, TestCa, TSA_EXTENSIONS, type TsaServer } from "./support/timestamp-authority.js";

/**
 * requestTimestamp against a loopback TSA (`openssl ts -reply` behind node:http). The TSA's URL is a configured
 * endpoint: loopback is behind the egress floor until the operator opens it, as AOS_EGRESS_ALLOW does here.
 */
const ca = TestCa.create("AOS Client Test Root");
const tsa = startTsa(ca.issue("AOS Client Test TSA", { extensions: TSA_EXTENSIONS }));
const MESSAGE = Buffer.from("aos.local/tenant/acme\n7\nq0Vq8mG9yZc5a3S6nW2o4kL1dQ7xR0tU8eB3hJ5fC1M=\n");
const closed: Egress = { openings: testConfig().egressOpenings, narrowTo: [] };
const opened: Egress = { openings: testConfig({ AOS_EGRESS_ALLOW: "127.0.0.1" }).egressOpenings, narrowTo: [] };
const servers: TsaServer[] = [];

async function server(answer?: Parameters<typeof startTsaServer>[1]): Promise<TsaServer> {
  const started = await startTsaServer(tsa, answer);
  servers.push(started);
  return started;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((started) => started.close()));
});

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

describe("requestTimestamp", () => {
  it("refuses a TSA on loopback while the egress floor is closed, before connecting", async () => {
    const tsaServer = await server();
    const error = await failure(requestTimestamp(tsaServer.url, MESSAGE, { egress: closed, timeoutMs: 5000 }));
    expect(error.code).toBe("FORBIDDEN_TARGET");
    expect(error.message).toMatch(/blocked request to 127\.0\.0\.1 \(loopback\).*AOS_EGRESS_ALLOW/);
    expect(tsaServer.connections()).toBe(0);
  });

  it("gets a token that verifies offline, for ours and OpenSSL, once the operator opens the floor", async () => {
    const tsaServer = await server();
    const before = Date.now();
    const { token, genTime } = await requestTimestamp(tsaServer.url, MESSAGE, { egress: opened, timeoutMs: 10_000 });
    expect(genTime.getTime()).toBeGreaterThanOrEqual(before);
    expect(genTime.getTime()).toBeLessThanOrEqual(Date.now());
    const result = verifyTimestampToken(token, { message: MESSAGE, trustedCertificates: [ca.root.pem] });
    expect(result).toMatchObject({ ok: true, genTime, signer: { subject: "CN=AOS Client Test TSA" } });
    expect(opensslAccepts(token, MESSAGE, [ca.root.certFile], genTime)).toBe(true);
  });

  it("refuses a reserved name for the opened address, another scheme than http(s), and what is no URL", async () => {
    const tsaServer = await server();
    const port = new URL(tsaServer.url).port;
    for (const url of [`http://localhost:${port}/tsa`, `ftp://127.0.0.1:${port}/tsa`, "not a url"]) {
      const error = await failure(requestTimestamp(url, MESSAGE, { egress: opened, timeoutMs: 5000 }));
      expect([url, error.code]).toEqual([url, "FORBIDDEN_TARGET"]);
    }
    expect(tsaServer.connections()).toBe(0);
  });

  it("reports a TSA's rejection with its failure, as not retryable", async () => {
    const picky = await startTsaServer(startTsa(ca.issue("AOS Picky TSA", { extensions: TSA_EXTENSIONS }), { digests: "sha512" }));
    servers.push(picky);
    const error = await failure(requestTimestamp(picky.url, MESSAGE, { egress: opened, timeoutMs: 10_000 }));
    expect(error.code).toBe("TIMESTAMP_REFUSED");
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/gave no token: the TSA did not grant the request: rejection \(badAlg: "Message digest algorithm is not supported\."\)/);
    expect(error.details).toMatchObject({ status: "rejection", failures: ["badAlg"] });
  });

  it("refuses a token that answers another request: a replayed reply carries another nonce", async () => {
    let first: Buffer | undefined;
    const replaying = await server((_query, res, reply) => {
      first ??= reply();
      sendReply(res, first);
    });
    await requestTimestamp(replaying.url, MESSAGE, { egress: opened, timeoutMs: 10_000 });
    const again = await failure(requestTimestamp(replaying.url, MESSAGE, { egress: opened, timeoutMs: 10_000 }));
    expect([again.code, again.message]).toEqual(["TIMESTAMP_REFUSED", expect.stringMatching(/does not carry the nonce sent/)]);
    const other = await failure(requestTimestamp(replaying.url, Buffer.from("other bytes"), { egress: opened, timeoutMs: 10_000 }));
    expect(other.message).toMatch(/its imprint is not the SHA-256 of the message sent/);
  });

  it("refuses a reply of another content type, even with a token in it", async () => {
    const mislabelled = await server((_query, res, reply) => sendReply(res, reply(), "application/octet-stream"));
    const error = await failure(requestTimestamp(mislabelled.url, MESSAGE, { egress: opened, timeoutMs: 10_000 }));
    expect([error.code, error.message]).toEqual(["TIMESTAMP_REFUSED", expect.stringMatching(/answered "application\/octet-stream", not application\/timestamp-reply/)]);
  });

  it("stops reading a reply past the cap, with or without a content-length", async () => {
    for (const declared of [true, false]) {
      const flooding = await server((_query, res) => {
        res.writeHead(200, { "content-type": "application/timestamp-reply", ...(declared ? { "content-length": String(1 << 20) } : {}) });
        res.end(Buffer.alloc(1 << 20));
      });
      const error = await failure(requestTimestamp(flooding.url, MESSAGE, { egress: opened, timeoutMs: 10_000, maxResponseBytes: 4096 }));
      expect([declared, error.code]).toEqual([declared, "RESPONSE_TOO_LARGE"]);
    }
  });

  it("times out on a TSA that does not answer, and ends with the caller's signal", async () => {
    const stalling = await server(() => undefined);
    const started = Date.now();
    const error = await failure(requestTimestamp(stalling.url, MESSAGE, { egress: opened, timeoutMs: 300 }));
    expect([error.code, error.retryable]).toEqual(["TIMEOUT", true]);
    expect(Date.now() - started).toBeLessThan(5000);
    const controller = new AbortController();
    const pending = requestTimestamp(stalling.url, MESSAGE, { egress: opened, timeoutMs: 10_000, signal: controller.signal });
    controller.abort(new Error("stopping"));
    await expect(pending).rejects.toThrow("stopping");
  });

  it("reports HTTP errors by status, and follows no redirect", async () => {
    const target = await server();
    const failing = await server((_query, res) => {
      res.writeHead(503).end();
    });
    const redirecting = await server((_query, res) => {
      res.writeHead(307, { location: target.url }).end();
    });
    const unavailable = await failure(requestTimestamp(failing.url, MESSAGE, { egress: opened, timeoutMs: 10_000 }));
    expect([unavailable.code, unavailable.retryable]).toEqual(["HTTP_5XX", true]);
    const redirected = await failure(requestTimestamp(redirecting.url, MESSAGE, { egress: opened, timeoutMs: 10_000 }));
    expect([redirected.code, redirected.message]).toEqual(["TIMESTAMP_REFUSED", expect.stringMatching(/answered 307: redirects are not followed/)]);
    expect(target.connections()).toBe(0);
  });
});
