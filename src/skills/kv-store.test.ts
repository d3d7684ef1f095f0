import { randomBytes, randomUUID } from "node:crypto";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeOnBackends, testBackends, type TestDatabase } from "../../test/support/databases.js";
import { runToEnd, testConfig } from "../../test/support/harness.js";
import { skillContext } from "../../test/support/skill-context.js";
import { ensureTenant } from "../db/queries/tenants.js";
import type { SkillContext, SkillOutcome } from "./contract.js";
import type { KvBackend } from "./kv/kv-backend.js";
import { PostgresKv } from "./kv/postgres-kv.js";
import { RedisKv } from "./kv/redis-kv.js";
import { kvStoreSkill } from "./kv-store.js";

const REDIS_URL = "redis://127.0.0.1:6379";

/** Every tenant a test uses; the PostgreSQL backend needs their rows. "a:b" and "a" probe the Redis key encoding. */
const TENANTS = ["tenant-a", "tenant-b", "a:b", "a"] as const;

interface Call {
  tenantId?: string;
  /** The step's idempotency key; a fresh one per call unless a test repeats a step. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

function caller(kv: () => KvBackend | undefined) {
  return (raw: Record<string, unknown>, call: Call = {}): Promise<SkillOutcome> => {
    const overrides: Partial<SkillContext> = {
      tenantId: call.tenantId ?? "tenant-a",
      idempotencyKey: call.idempotencyKey ?? `${randomUUID()}:0`,
    };
    const store = kv();
    if (store !== undefined) Object.assign(overrides, { kv: store });
    if (call.signal !== undefined) Object.assign(overrides, { signal: call.signal });
    return kvStoreSkill.execute(kvStoreSkill.input.parse(raw), skillContext(overrides));
  };
}

function resultOf(outcome: SkillOutcome): Record<string, unknown> {
  if (outcome.status !== "ok") throw new Error(`expected ok, got ${outcome.error.code}: ${outcome.error.message}`);
  return outcome.result as Record<string, unknown>;
}

/** Polls until `check` holds, instead of sleeping for the TTL and hoping. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not true after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The behaviour both backends share: every op, TTLs, atomic counters, idempotent retries, tenant isolation. */
function behavesAsKvStore(kv: () => KvBackend): void {
  const call = caller(kv);
  const key = () => `k-${randomBytes(4).toString("hex")}`;

  it("sets, gets, checks, and deletes JSON values, in the default namespace unless told", async () => {
    const k = key();
    const value = { list: [1, "two", null], nested: { ok: true } };
    expect(resultOf(await call({ op: "get", key: k }))).toEqual({ op: "get", namespace: "default", key: k, found: false, value: null });
    expect(resultOf(await call({ op: "set", key: k, value }))).toMatchObject({ value, ttl_seconds: null });
    expect(resultOf(await call({ op: "get", key: k }))).toMatchObject({ found: true, value });
    expect(resultOf(await call({ op: "exists", key: k }))).toMatchObject({ exists: true });
    expect(resultOf(await call({ op: "get", key: k, namespace: "other" }))).toMatchObject({ found: false });
    await call({ op: "set", key: k, value: "replaced" });
    expect(resultOf(await call({ op: "get", key: k }))).toMatchObject({ value: "replaced" });
    expect(resultOf(await call({ op: "delete", key: k }))).toMatchObject({ deleted: true });
    expect(resultOf(await call({ op: "delete", key: k }))).toMatchObject({ deleted: false });
    expect(resultOf(await call({ op: "exists", key: k }))).toMatchObject({ exists: false });
    await call({ op: "set", key: k, value: null });
    expect(resultOf(await call({ op: "get", key: k }))).toMatchObject({ found: true, value: null });
  });

  it("reports TTLs, sets them with expire, and drops one when a value is set without", async () => {
    const k = key();
    expect(resultOf(await call({ op: "ttl", key: k }))).toMatchObject({ exists: false, ttl_seconds: null });
    expect(resultOf(await call({ op: "expire", key: k, ttl_seconds: 10 }))).toMatchObject({ applied: false });
    await call({ op: "set", key: k, value: 1 });
    expect(resultOf(await call({ op: "ttl", key: k }))).toMatchObject({ exists: true, ttl_seconds: null });
    expect(resultOf(await call({ op: "expire", key: k, ttl_seconds: 100 }))).toMatchObject({ applied: true });
    expect((resultOf(await call({ op: "ttl", key: k })).ttl_seconds as number)).toBeGreaterThan(98);
    await call({ op: "incr", key: k });
    expect((resultOf(await call({ op: "ttl", key: k })).ttl_seconds as number)).toBeGreaterThan(98);
    await call({ op: "set", key: k, value: 1, ttl_seconds: 50 });
    const ttl = resultOf(await call({ op: "ttl", key: k })).ttl_seconds as number;
    expect(ttl).toBeGreaterThan(48);
    expect(ttl).toBeLessThanOrEqual(50);
    await call({ op: "set", key: k, value: 2 });
    expect(resultOf(await call({ op: "ttl", key: k }))).toMatchObject({ ttl_seconds: null });
  });

  it("lets an expired entry vanish from every op, and a counter restart from nothing", async () => {
    const [gone, counter] = [key(), key()];
    await call({ op: "set", key: gone, value: "brief", ttl_seconds: 1 });
    await call({ op: "incr", key: counter, by: 5 });
    await call({ op: "expire", key: counter, ttl_seconds: 1 });
    expect(resultOf(await call({ op: "get", key: gone }))).toMatchObject({ found: true, value: "brief" });
    await eventually(async () => resultOf(await call({ op: "get", key: gone })).found === false);
    expect(resultOf(await call({ op: "exists", key: gone }))).toMatchObject({ exists: false });
    expect(resultOf(await call({ op: "ttl", key: gone }))).toMatchObject({ exists: false, ttl_seconds: null });
    expect(resultOf(await call({ op: "expire", key: gone, ttl_seconds: 60 }))).toMatchObject({ applied: false });
    expect(resultOf(await call({ op: "delete", key: gone }))).toMatchObject({ deleted: false });
    await eventually(async () => resultOf(await call({ op: "exists", key: counter })).exists === false);
    expect(resultOf(await call({ op: "incr", key: counter, by: 2 }))).toMatchObject({ value: 2 });
    expect(resultOf(await call({ op: "ttl", key: counter }))).toMatchObject({ exists: true, ttl_seconds: null });
  });

  it("counts with incr and decr, refusing values that are not integers or would leave the safe range", async () => {
    const [k, text, big] = [key(), key(), key()];
    expect(resultOf(await call({ op: "incr", key: k }))).toMatchObject({ op: "incr", value: 1 });
    expect(resultOf(await call({ op: "incr", key: k, by: 10 }))).toMatchObject({ value: 11 });
    expect(resultOf(await call({ op: "decr", key: k, by: 20 }))).toMatchObject({ value: -9 });
    expect(resultOf(await call({ op: "decr", key: k }))).toMatchObject({ value: -10 });
    expect(resultOf(await call({ op: "get", key: k }))).toMatchObject({ value: -10 });

    for (const value of ["7", 1.5, { n: 1 }]) {
      await call({ op: "set", key: text, value });
      const outcome = await call({ op: "incr", key: text });
      expect(outcome).toMatchObject({ status: "error", error: { code: "KV_NOT_INTEGER", retryable: false } });
    }
    await call({ op: "set", key: big, value: Number.MAX_SAFE_INTEGER - 1 });
    expect(resultOf(await call({ op: "incr", key: big }))).toMatchObject({ value: Number.MAX_SAFE_INTEGER });
    expect(await call({ op: "incr", key: big })).toMatchObject({ status: "error", error: { code: "KV_NOT_INTEGER" } });
    expect(resultOf(await call({ op: "get", key: big }))).toMatchObject({ value: Number.MAX_SAFE_INTEGER });
  });

  it("applies 50 concurrent increments exactly once each", async () => {
    const k = key();
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => call({ op: "incr", key: k })));
    const values = outcomes.map((outcome) => resultOf(outcome).value as number).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
    expect(resultOf(await call({ op: "get", key: k }))).toMatchObject({ value: 50 });
  });

  it("applies a retried write once: the same idempotency key returns the first result, even at the same time", async () => {
    const [k, gone] = [key(), key()];
    const step = `${randomUUID()}:3`;
    expect(resultOf(await call({ op: "incr", key: k, by: 5 }, { idempotencyKey: step }))).toMatchObject({ value: 5 });
    expect(resultOf(await call({ op: "incr", key: k, by: 5 }, { idempotencyKey: step }))).toMatchObject({ value: 5 });
    expect(resultOf(await call({ op: "get", key: k }))).toMatchObject({ value: 5 });

    const racing = `${randomUUID()}:0`;
    const both = await Promise.all([1, 2].map(() => call({ op: "incr", key: k }, { idempotencyKey: racing })));
    expect(both.map((outcome) => resultOf(outcome).value)).toEqual([6, 6]);

    await call({ op: "set", key: gone, value: 1 });
    const deleting = `${randomUUID()}:1`;
    expect(resultOf(await call({ op: "delete", key: gone }, { idempotencyKey: deleting }))).toMatchObject({ deleted: true });
    await call({ op: "set", key: gone, value: 2 });
    // The repeat answers as the first attempt did, and deletes nothing now.
    expect(resultOf(await call({ op: "delete", key: gone }, { idempotencyKey: deleting }))).toMatchObject({ deleted: true });
    expect(resultOf(await call({ op: "get", key: gone }))).toMatchObject({ value: 2 });

    const reused = await call({ op: "decr", key: k, by: 5 }, { idempotencyKey: step });
    expect(reused).toMatchObject({ status: "error", error: { code: "IDEMPOTENCY_KEY_REUSED", retryable: false } });
    expect(resultOf(await call({ op: "get", key: k }))).toMatchObject({ value: 6 });
  });

  it("keeps tenants apart: keys, deletes, and idempotency keys of one tenant never touch another's", async () => {
    const k = key();
    const step = `${randomUUID()}:0`;
    await call({ op: "set", key: k, value: "a's" }, { tenantId: "tenant-a" });
    expect(resultOf(await call({ op: "get", key: k }, { tenantId: "tenant-b" }))).toMatchObject({ found: false });
    expect(resultOf(await call({ op: "exists", key: k }, { tenantId: "tenant-b" }))).toMatchObject({ exists: false });
    expect(resultOf(await call({ op: "delete", key: k }, { tenantId: "tenant-b" }))).toMatchObject({ deleted: false });
    expect(resultOf(await call({ op: "expire", key: k, ttl_seconds: 1 }, { tenantId: "tenant-b" }))).toMatchObject({ applied: false });
    await call({ op: "set", key: k, value: "b's" }, { tenantId: "tenant-b" });
    expect(resultOf(await call({ op: "get", key: k }, { tenantId: "tenant-a" }))).toMatchObject({ value: "a's" });
    expect(resultOf(await call({ op: "ttl", key: k }, { tenantId: "tenant-a" }))).toMatchObject({ ttl_seconds: null });

    const counter = key();
    expect(resultOf(await call({ op: "incr", key: counter }, { tenantId: "tenant-a", idempotencyKey: step }))).toMatchObject({ value: 1 });
    expect(resultOf(await call({ op: "incr", key: counter, by: 3 }, { tenantId: "tenant-b", idempotencyKey: step }))).toMatchObject({ value: 3 });

    // Tenant "a:b", namespace "c", key "k" and tenant "a", namespace "b", key "c:k" would share one naive Redis key.
    await call({ op: "set", namespace: "c", key: k, value: "a:b's" }, { tenantId: "a:b" });
    expect(resultOf(await call({ op: "get", namespace: "b", key: `c:${k}` }, { tenantId: "a" }))).toMatchObject({ found: false });
  });
}

describe("kv_store's input", () => {
  const parse = (raw: unknown) => kvStoreSkill.input.safeParse(raw);

  it("takes each op with its own fields, and the default namespace", () => {
    expect(parse({ op: "get", key: "k" })).toMatchObject({ success: true, data: { namespace: "default" } });
    expect(parse({ op: "incr", key: "k" })).toMatchObject({ success: true, data: { by: 1 } });
    expect(parse({ op: "set", key: "k".repeat(256), namespace: "a_b-9", value: null, ttl_seconds: 1 }).success).toBe(true);
  });

  it("refuses bad namespaces, keys, TTLs and amounts, fields the op does not take, and missing required ones", () => {
    for (const raw of [
      { op: "get", key: "k", namespace: "Upper" },
      { op: "get", key: "k", namespace: "a:b" },
      { op: "get", key: "k", namespace: "n".repeat(65) },
      { op: "get", key: "" },
      { op: "get", key: "k".repeat(257) },
      { op: "get" },
      { op: "get", key: "k", value: 1 },
      { op: "set", key: "k" },
      { op: "set", key: "k", value: 1, ttl_seconds: 0 },
      { op: "set", key: "k", value: 1, ttl_seconds: 1.5 },
      { op: "set", key: "k", value: 1, by: 2 },
      { op: "expire", key: "k" },
      { op: "incr", key: "k", by: 0 },
      { op: "decr", key: "k", by: Number.MAX_SAFE_INTEGER + 1 },
      { op: "scan", key: "k" },
      { operation: "get", key: "k" },
    ]) {
      expect(parse(raw).success, JSON.stringify(raw)).toBe(false);
    }
  });

  it("fails without a store, and stops when its signal is aborted", async () => {
    expect(await caller(() => undefined)({ op: "get", key: "k" })).toMatchObject({ status: "error", error: { code: "INTERNAL" } });
    const store = new RedisKv({ url: REDIS_URL });
    const aborted = await caller(() => store)({ op: "get", key: "k" }, { signal: AbortSignal.abort() });
    expect(aborted).toMatchObject({ status: "error", error: { code: "CANCELLED" } });
  });

  it("reports an unreachable Redis as retryable DATABASE_UNAVAILABLE, naming no password", async () => {
    const store = new RedisKv({ url: "redis://user:secret@127.0.0.1:1" });
    const outcome = await caller(() => store)({ op: "incr", key: "k" });
    expect(outcome).toMatchObject({ status: "error", error: { code: "DATABASE_UNAVAILABLE", retryable: true } });
    expect(JSON.stringify(outcome)).not.toContain("secret");
  });
});

describeOnBackends("kv_store on PostgreSQL ($name)", (backend) => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await backend.open();
    for (const tenant of TENANTS) await ensureTenant(db.pool, tenant);
  });
  afterAll(async () => {
    await db?.close();
  });

  behavesAsKvStore(() => new PostgresKv(db));

  it("deletes an expired row when a read meets it", async () => {
    const call = caller(() => new PostgresKv(db));
    await call({ op: "set", key: "lazy", value: 1, ttl_seconds: 1 });
    await eventually(async () => resultOf(await call({ op: "get", key: "lazy" })).found === false);
    const { rows } = await db.pool.query(`select count(*)::int as n from kv_store where key = 'lazy'`);
    expect(rows[0].n).toBe(0);
  });

  it("is the store a run's steps use when REDIS_URL is not set", async () => {
    const detail = await runToEnd(db, testConfig(), {
      tenantId: "tenant-run",
      goal: "count",
      plan: {
        steps: [
          { step_id: "a", skill: "kv_store", params: { op: "incr", key: "visits", by: 2 } },
          { step_id: "b", skill: "kv_store", params: { op: "incr", key: "visits" } },
          { step_id: "c", skill: "kv_store", params: { op: "get", key: "visits" } },
        ],
      },
    });
    expect(detail.run.status).toBe("succeeded");
    const results = detail.steps.filter((step) => step.status === "succeeded").map((step) => step.outcomeData);
    expect(results).toMatchObject([{ value: 2 }, { value: 3 }, { found: true, value: 3 }]);
    const { rows } = await db.pool.query(`select value from kv_store where tenant_id = 'tenant-run' and key = 'visits'`);
    expect(rows).toEqual([{ value: 3 }]);
  });
});

async function redisReachable(): Promise<boolean> {
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 1000, reconnectStrategy: false } });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    if (client.isOpen) client.destroy();
  }
}

// Runs wherever Redis answers; in CI it must (CI runs a Redis), so there it runs and fails rather than skipping.
const runRedis = (await redisReachable()) || Boolean(process.env.CI);

describe.runIf(runRedis)("kv_store on Redis", () => {
  const prefix = `aos-test-${randomBytes(6).toString("hex")}`;
  const store = new RedisKv({ url: REDIS_URL, prefix });
  const admin = createClient({ url: REDIS_URL });

  beforeAll(async () => {
    await admin.connect();
  });
  afterAll(async () => {
    if (!admin.isOpen) return;
    for (const pattern of [`${prefix}:*`, "aos:kv:tenant-redis-run*", "aos:kv-idem:tenant-redis-run*"]) {
      for await (const keys of admin.scanIterator({ MATCH: pattern, COUNT: 500 })) if (keys.length > 0) await admin.del(keys);
    }
    admin.destroy();
  });

  behavesAsKvStore(() => store);

  it("stores entries as JSON under aos:kv:<tenant>:<namespace>:<key>, with Redis's own TTL", async () => {
    await caller(() => store)({ op: "set", namespace: "ns", key: "shape", value: { a: 1 }, ttl_seconds: 30 });
    expect(await admin.get(`${prefix}:kv:tenant-a:ns:shape`)).toBe('{"a":1}');
    expect(await admin.ttl(`${prefix}:kv:tenant-a:ns:shape`)).toBeGreaterThan(28);
    await caller(() => store)({ op: "set", namespace: "c", key: "k", value: 1 }, { tenantId: "a:b" });
    expect(await admin.exists(`${prefix}:kv:a%3Ab:c:k`)).toBe(1);
  });

  it("is the store a run's steps use when REDIS_URL is set", async () => {
    const db = await testBackends()[0]!.open();
    try {
      const tenantId = `tenant-redis-run-${randomBytes(4).toString("hex")}`;
      const detail = await runToEnd(db, testConfig({ REDIS_URL, AOS_EGRESS_ALLOW: "127.0.0.1" }), {
        tenantId,
        goal: "count",
        plan: { steps: [{ step_id: "a", skill: "kv_store", params: { op: "incr", key: "visits", by: 4 } }] },
      });
      expect(detail.run.status).toBe("succeeded");
      expect(await admin.get(`aos:kv:${tenantId}:default:visits`)).toBe("4");
      const { rows } = await db.pool.query(`select count(*)::int as n from kv_store`);
      expect(rows[0].n).toBe(0);
    } finally {
      await db.close();
    }
  });
});
