import type pg from "pg";
import { type Database, withTransaction } from "../../db/database.js";
import {
  claimKvIdempotency,
  deleteKvEntry,
  expireKvEntry,
  findKvIdempotency,
  incrementKvEntry,
  type KvEntryKey,
  readKvEntry,
  recordKvIdempotencyResult,
  setKvEntry,
} from "../../db/queries/kv.js";
import { AppError } from "../../errors.js";
import {
  IDEMPOTENCY_TTL_SECONDS,
  KV_MAX_INTEGER,
  type KvBackend,
  type KvEntry,
  type KvScope,
  type KvTtl,
  type KvWrite,
  type KvWriteOp,
  keyReused,
  notInteger,
  requestHash,
} from "./kv-backend.js";

/** kv_store on AOS's own database (tables kv_store and kv_idempotency, migration 0009). */
export class PostgresKv implements KvBackend {
  constructor(private readonly db: Database) {}

  async get(scope: KvScope, key: string): Promise<KvEntry> {
    const row = await readKvEntry(this.db.pool, entryKey(scope, key));
    return row === undefined ? { found: false, value: null } : { found: true, value: row.value };
  }

  async exists(scope: KvScope, key: string): Promise<boolean> {
    return (await readKvEntry(this.db.pool, entryKey(scope, key))) !== undefined;
  }

  async ttl(scope: KvScope, key: string): Promise<KvTtl> {
    const row = await readKvEntry(this.db.pool, entryKey(scope, key));
    return row === undefined ? { exists: false, ttlSeconds: null } : { exists: true, ttlSeconds: row.ttl_seconds };
  }

  async set(scope: KvScope, key: string, value: unknown, ttlSeconds: number | undefined, write: KvWrite): Promise<void> {
    await this.once("set", scope, key, [value, ttlSeconds], write, async (client) => {
      await setKvEntry(client, entryKey(scope, key), JSON.stringify(value), ttlSeconds ?? null);
      return null;
    });
  }

  delete(scope: KvScope, key: string, write: KvWrite): Promise<boolean> {
    return this.once("delete", scope, key, [], write, (client) => deleteKvEntry(client, entryKey(scope, key)));
  }

  incr(scope: KvScope, key: string, by: number, write: KvWrite): Promise<number> {
    return this.once("incr", scope, key, [by], write, (client) => increment(client, scope, key, by));
  }

  decr(scope: KvScope, key: string, by: number, write: KvWrite): Promise<number> {
    return this.once("decr", scope, key, [by], write, (client) => increment(client, scope, key, -by));
  }

  expire(scope: KvScope, key: string, ttlSeconds: number, write: KvWrite): Promise<boolean> {
    return this.once("expire", scope, key, [ttlSeconds], write, (client) => expireKvEntry(client, entryKey(scope, key), ttlSeconds));
  }

  /**
   * Applies a write at most once per idempotency key: the claim, the write and its recorded result commit
   * together, so a record exists exactly when the write happened, and a repeat returns the recorded result.
   */
  private once<T>(op: KvWriteOp, scope: KvScope, key: string, args: unknown[], write: KvWrite, apply: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const hash = requestHash(op, scope, key, args);
    const { tenantId } = scope;
    const { idempotencyKey } = write;
    return withTransaction(this.db, async (client) => {
      if (await claimKvIdempotency(client, { tenantId, idempotencyKey, requestHash: hash, ttlSeconds: IDEMPOTENCY_TTL_SECONDS })) {
        const result = await apply(client);
        await recordKvIdempotencyResult(client, tenantId, idempotencyKey, JSON.stringify(result));
        return result;
      }
      const seen = await findKvIdempotency(client, tenantId, idempotencyKey);
      if (seen === undefined) throw new AppError("CONFLICT", `kv_store: idempotency key ${idempotencyKey} changed hands; retry`);
      if (seen.request_hash !== hash) throw keyReused(idempotencyKey, op, key);
      return seen.result as T;
    });
  }
}

async function increment(client: pg.PoolClient, scope: KvScope, key: string, by: number): Promise<number> {
  const value = await incrementKvEntry(client, entryKey(scope, key), by, KV_MAX_INTEGER);
  if (value === undefined) throw notInteger(key);
  return value;
}

function entryKey(scope: KvScope, key: string): KvEntryKey {
  return { tenantId: scope.tenantId, namespace: scope.namespace, key };
}
