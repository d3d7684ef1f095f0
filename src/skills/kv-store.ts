import { z } from "zod";
import { untilAborted } from "../abortable.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { openKvBackend } from "./kv/open-kv-backend.js";
import { KV_MAX_INTEGER, type KvBackend, type KvScope } from "./kv/kv-backend.js";
import { abortedOutcome, failure, ok } from "./outcome.js";
import { storeFailure } from "./state-store-calls.js";

const NAME = "kv_store";
const MAX_TTL_SECONDS = 365 * 24 * 3600;

const common = {
  namespace: z
    .string()
    .regex(/^[a-z0-9_-]{1,64}$/, "1 to 64 of a-z, 0-9, _ and -")
    .default("default")
    .describe("keys live per tenant and namespace"),
  key: z.string().min(1).max(256),
};
const ttlSeconds = z.int().min(1).max(MAX_TTL_SECONDS);
const by = z.int().min(1).max(KV_MAX_INTEGER).default(1);

const inputSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("get"), ...common }).strict(),
  z.object({ op: z.literal("exists"), ...common }).strict(),
  z.object({ op: z.literal("ttl"), ...common }).strict(),
  z
    .object({
      op: z.literal("set"),
      ...common,
      value: z.json(),
      ttl_seconds: ttlSeconds.optional().describe("absent: the entry never expires (an earlier TTL is dropped)"),
    })
    .strict(),
  z.object({ op: z.literal("delete"), ...common }).strict(),
  z.object({ op: z.literal("incr"), ...common, by }).strict(),
  z.object({ op: z.literal("decr"), ...common, by }).strict(),
  z.object({ op: z.literal("expire"), ...common, ttl_seconds: ttlSeconds }).strict(),
]);

export type KvStoreInput = z.output<typeof inputSchema>;

const READS: ReadonlySet<KvStoreInput["op"]> = new Set(["get", "exists", "ttl"]);

export const kvStoreSkill: Skill<KvStoreInput> = {
  name: NAME,
  version: "1.0.0",
  description:
    "Keeps small JSON values between steps and runs: get, set (optionally with ttl_seconds), delete, exists, ttl, " +
    "incr, decr (atomic, on integers) and expire, per tenant and namespace. Stored in Redis when REDIS_URL is " +
    "set, else in AOS's database. Writes are applied once per step: a retried attempt gets the first result.",
  input: inputSchema,
  output: {
    op: "the operation, echoed",
    namespace: "the namespace, echoed",
    key: "the key, echoed",
    value: "get: the value (null when not found); set: the value stored; incr/decr: the new integer",
    found: "get: whether a live entry exists",
    exists: "exists, ttl: whether a live entry exists",
    ttl_seconds: "ttl: whole seconds left, rounded up, null for no expiry or no entry; set: the TTL given or null",
    deleted: "delete: whether a live entry was deleted",
    applied: "expire: whether a live entry got the TTL (false: no such entry)",
  },
  determinism: "non_deterministic",
  sideEffects: "external_write",
  sideEffectsOf: (input) => (READS.has(input.op) ? "external_read" : "external_write"),
  estimateLatencyMs: () => 5,
  estimateCostCents: () => 0,
  limits: { key_chars: 256, namespace_chars: 64, max_ttl_seconds: MAX_TTL_SECONDS, max_integer: KV_MAX_INTEGER },
  // Redis, when configured, is a network endpoint like any other (AOS's own database is not).
  configuredTargets: (_input, settings) => (settings.redisUrl === undefined ? [] : [settings.redisUrl]),
  openResources: ({ config, db }) => ({ kv: openKvBackend(config, db) }),
  failureCodes: ["KV_NOT_INTEGER", "IDEMPOTENCY_KEY_REUSED", "DATABASE_UNAVAILABLE", "CONFLICT", "TIMEOUT", "CANCELLED", "INTERNAL"],
  execute: executeKvStore,
};

async function executeKvStore(input: KvStoreInput, ctx: SkillContext): Promise<SkillOutcome> {
  if (ctx.kv === undefined) return failure("INTERNAL", `${NAME} was given no store in its context`);
  if (ctx.signal.aborted) return abortedOutcome(NAME, ctx.signal);
  try {
    return ok(await untilAborted(apply(ctx.kv, input, ctx), ctx.signal));
  } catch (error) {
    if (ctx.signal.aborted) return abortedOutcome(NAME, ctx.signal);
    return storeFailure(NAME, error);
  }
}

async function apply(kv: KvBackend, input: KvStoreInput, ctx: SkillContext): Promise<Record<string, unknown>> {
  const scope: KvScope = { tenantId: ctx.tenantId, namespace: input.namespace };
  const write = { idempotencyKey: ctx.idempotencyKey };
  const { op, namespace, key } = input;
  const echo = { op, namespace, key };
  switch (input.op) {
    case "get":
      return { ...echo, ...(await kv.get(scope, key)) };
    case "exists":
      return { ...echo, exists: await kv.exists(scope, key) };
    case "ttl": {
      const ttl = await kv.ttl(scope, key);
      return { ...echo, exists: ttl.exists, ttl_seconds: ttl.ttlSeconds };
    }
    case "set":
      await kv.set(scope, key, input.value, input.ttl_seconds, write);
      return { ...echo, value: input.value, ttl_seconds: input.ttl_seconds ?? null };
    case "delete":
      return { ...echo, deleted: await kv.delete(scope, key, write) };
    case "incr":
      return { ...echo, value: await kv.incr(scope, key, input.by, write) };
    case "decr":
      return { ...echo, value: await kv.decr(scope, key, input.by, write) };
    case "expire":
      return { ...echo, applied: await kv.expire(scope, key, input.ttl_seconds, write) };
  }
}
