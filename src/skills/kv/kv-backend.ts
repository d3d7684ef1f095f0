import { createHash } from "node:crypto";
import { AppError } from "../../errors.js";
import { canonicalJson } from "../../trace/canonical-json.js";

/**
 * Where kv_store keeps its entries: PostgreSQL (AOS's own database) or Redis. A skill gets this port, never a
 * database handle, and every call names its tenant and namespace, so nothing outside that scope is reachable.
 */
export interface KvBackend {
  /** The entry's value, or `found: false` when there is none or it has expired. */
  get(scope: KvScope, key: string): Promise<KvEntry>;
  exists(scope: KvScope, key: string): Promise<boolean>;
  ttl(scope: KvScope, key: string): Promise<KvTtl>;
  /** Stores `value` (JSON); without `ttlSeconds` the entry never expires, and a previous TTL is dropped. */
  set(scope: KvScope, key: string, value: unknown, ttlSeconds: number | undefined, write: KvWrite): Promise<void>;
  /** True when a live entry was deleted. */
  delete(scope: KvScope, key: string, write: KvWrite): Promise<boolean>;
  /**
   * Adds `by` to an integer entry, atomically, and returns the new value; a missing or expired entry counts as 0
   * and gets no TTL; a live entry keeps its TTL. Throws AppError KV_NOT_INTEGER when the entry holds anything
   * but an integer, or the result would leave ±(2^53 − 1), the integers JSON carries exactly.
   */
  incr(scope: KvScope, key: string, by: number, write: KvWrite): Promise<number>;
  /** `incr` by `-by`, recorded as a decr. */
  decr(scope: KvScope, key: string, by: number, write: KvWrite): Promise<number>;
  /** Sets a live entry to expire `ttlSeconds` from now; false when there is no live entry. */
  expire(scope: KvScope, key: string, ttlSeconds: number, write: KvWrite): Promise<boolean>;
}

export interface KvScope {
  readonly tenantId: string;
  readonly namespace: string;
}

export interface KvEntry {
  found: boolean;
  /** The stored JSON value; null when not found. */
  value: unknown;
}

export interface KvTtl {
  exists: boolean;
  /** Whole seconds left, rounded up; null when the entry does not exist or never expires. */
  ttlSeconds: number | null;
}

/**
 * What every write carries: the step's idempotency key, the same across attempts. The first write under a key is
 * applied and its result recorded with it; a later write under the key returns the recorded result and applies
 * nothing. Reusing a key for a different request throws AppError IDEMPOTENCY_KEY_REUSED.
 */
export interface KvWrite {
  readonly idempotencyKey: string;
}

/** How long an applied write is remembered: far longer than any retry or resumption of its step takes. */
export const IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600;

/** The largest integer incr/decr keep: JSON numbers carry integers exactly only up to here. */
export const KV_MAX_INTEGER = Number.MAX_SAFE_INTEGER;

export type KvWriteOp = "set" | "delete" | "incr" | "decr" | "expire";

/**
 * A write's fingerprint, to tell a repeat from a different request under the same key. Canonical JSON, because a
 * resumed attempt interpolates earlier results read back from jsonb, whose member order differs from the first
 * attempt's.
 */
export function requestHash(op: KvWriteOp, scope: KvScope, key: string, args: unknown[]): string {
  const text = canonicalJson([op, scope.namespace, key, ...args.map((arg) => arg ?? null)]);
  return createHash("sha256").update(text).digest("hex");
}

export function notInteger(key: string): AppError {
  return new AppError(
    "KV_NOT_INTEGER",
    `kv_store: "${key}" holds a value that is not an integer, or the result would pass ±${KV_MAX_INTEGER}`,
    { details: { key } },
  );
}

export function keyReused(idempotencyKey: string, op: KvWriteOp, key: string): AppError {
  return new AppError(
    "IDEMPOTENCY_KEY_REUSED",
    `kv_store: idempotency key ${idempotencyKey} was already used for a different write than this ${op} of "${key}"`,
    { details: { idempotency_key: idempotencyKey } },
  );
}
