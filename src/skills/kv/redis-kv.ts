import type { createClient } from "redis";
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

type RedisClient = ReturnType<typeof createClient>;

/** Loaded on the first call: the client is large, and only processes with REDIS_URL set ever use it. */
const loadRedis = () => import("redis");

const CONNECT_TIMEOUT_MS = 5000;

// Every write is one Lua script, which Redis runs atomically: check the idempotency record, apply the write, record
// its result (JSON text) with a TTL. KEYS[1] is the entry, KEYS[2] the record; ARGV[1] the request hash, ARGV[2] the
// record's TTL, ARGV[3…] the write's own arguments. The record is "<request hash>\n<result>". Results are built as
// text, never through Lua numbers or cjson, which would round integers past 2^53 or print them as 9.0e+15.
const ONCE_HEAD = `
local seen = redis.call('GET', KEYS[2])
if seen then return {'seen', seen} end
`;
const ONCE_TAIL = `
redis.call('SET', KEYS[2], ARGV[1] .. '\\n' .. result, 'EX', ARGV[2])
return {'applied', result}
`;

const SCRIPTS = {
  set: `
if ARGV[4] == '' then redis.call('SET', KEYS[1], ARGV[3]) else redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4]) end
local result = 'null'`,
  delete: `
local result = redis.call('DEL', KEYS[1]) == 1 and 'true' or 'false'`,
  // INCRBY keeps the entry's TTL and refuses non-integers; a result past ARGV[5] is undone before anyone can see it.
  incr: `
local n = redis.pcall('INCRBY', KEYS[1], ARGV[3])
if type(n) == 'table' then return {'not_integer'} end
if math.abs(n) > tonumber(ARGV[5]) then
  redis.call('INCRBY', KEYS[1], ARGV[4])
  return {'not_integer'}
end
local result = redis.call('GET', KEYS[1])`,
  expire: `
local result = redis.call('EXPIRE', KEYS[1], ARGV[3]) == 1 and 'true' or 'false'`,
} as const;

export interface RedisKvOptions {
  url: string;
  /** The first segment of every key; tests use their own to keep apart from each other and from real data. */
  prefix?: string;
}

/**
 * kv_store on Redis (REDIS_URL): an entry is `<prefix>:kv:<tenant>:<namespace>:<key>` holding JSON text, with
 * Redis's own TTL; an applied write's record is `<prefix>:kv-idem:<tenant>:<idempotency key>`, outside the
 * entries' key space. The tenant id is URI-encoded, so a tenant id with a colon cannot name another tenant's
 * keys (namespaces cannot hold one). One short-lived connection per call, as postgres_query does: nothing to
 * pool or close between steps.
 */
export class RedisKv implements KvBackend {
  private readonly url: string;
  private readonly prefix: string;

  constructor(options: RedisKvOptions) {
    this.url = options.url;
    this.prefix = options.prefix ?? "aos";
  }

  async get(scope: KvScope, key: string): Promise<KvEntry> {
    const text = await this.withClient((client) => client.get(this.entryKey(scope, key)));
    return text === null ? { found: false, value: null } : { found: true, value: JSON.parse(text) as unknown };
  }

  async exists(scope: KvScope, key: string): Promise<boolean> {
    return (await this.withClient((client) => client.exists(this.entryKey(scope, key)))) === 1;
  }

  /** PTTL is -2 for no entry and -1 for no expiry. */
  async ttl(scope: KvScope, key: string): Promise<KvTtl> {
    const ms = await this.withClient((client) => client.pTTL(this.entryKey(scope, key)));
    if (ms === -2) return { exists: false, ttlSeconds: null };
    return { exists: true, ttlSeconds: ms < 0 ? null : Math.ceil(ms / 1000) };
  }

  async set(scope: KvScope, key: string, value: unknown, ttlSeconds: number | undefined, write: KvWrite): Promise<void> {
    const args = [JSON.stringify(value), ttlSeconds === undefined ? "" : String(ttlSeconds)];
    await this.once("set", scope, key, [value, ttlSeconds], write, args);
  }

  async delete(scope: KvScope, key: string, write: KvWrite): Promise<boolean> {
    return (await this.once("delete", scope, key, [], write, [])) === true;
  }

  incr(scope: KvScope, key: string, by: number, write: KvWrite): Promise<number> {
    return this.increment("incr", scope, key, by, write);
  }

  decr(scope: KvScope, key: string, by: number, write: KvWrite): Promise<number> {
    return this.increment("decr", scope, key, by, write);
  }

  async expire(scope: KvScope, key: string, ttlSeconds: number, write: KvWrite): Promise<boolean> {
    return (await this.once("expire", scope, key, [ttlSeconds], write, [String(ttlSeconds)])) === true;
  }

  private async increment(op: "incr" | "decr", scope: KvScope, key: string, by: number, write: KvWrite): Promise<number> {
    const delta = op === "incr" ? by : -by;
    const args = [String(delta), String(-delta), String(KV_MAX_INTEGER)];
    return (await this.once(op, scope, key, [by], write, args)) as number;
  }

  private async once(op: KvWriteOp, scope: KvScope, key: string, hashed: unknown[], write: KvWrite, args: string[]): Promise<unknown> {
    const hash = requestHash(op, scope, key, hashed);
    const reply = await this.withClient((client) =>
      client.eval(ONCE_HEAD + SCRIPTS[op === "decr" ? "incr" : op] + ONCE_TAIL, {
        keys: [this.entryKey(scope, key), this.recordKey(scope, write.idempotencyKey)],
        arguments: [hash, String(IDEMPOTENCY_TTL_SECONDS), ...args],
      }),
    );
    const [status, text = "null"] = reply as [string, string?];
    if (status === "not_integer") throw notInteger(key);
    if (status === "applied") return JSON.parse(text) as unknown;
    const newline = text.indexOf("\n");
    if (text.slice(0, newline) !== hash) throw keyReused(write.idempotencyKey, op, key);
    return JSON.parse(text.slice(newline + 1)) as unknown;
  }

  private entryKey(scope: KvScope, key: string): string {
    return `${this.prefix}:kv:${encodeURIComponent(scope.tenantId)}:${scope.namespace}:${key}`;
  }

  private recordKey(scope: KvScope, idempotencyKey: string): string {
    return `${this.prefix}:kv-idem:${encodeURIComponent(scope.tenantId)}:${idempotencyKey}`;
  }

  /** Errors Redis replied with (a wrong type, a script error) pass through; losing the server is DATABASE_UNAVAILABLE. */
  private async withClient<T>(work: (client: RedisClient) => Promise<T>): Promise<T> {
    let client: RedisClient | undefined;
    const redis = await loadRedis();
    try {
      client = redis.createClient({ url: this.url, socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false } });
      // The failed command or connect() carries the error; without a listener the event would crash the process.
      client.on("error", () => undefined);
      await client.connect();
      return await work(client);
    } catch (error) {
      if (error instanceof AppError || error instanceof redis.ErrorReply) throw error;
      throw unavailable(this.url, error);
    } finally {
      if (client?.isOpen === true) client.destroy();
    }
  }
}

/** Names host and port only: REDIS_URL may carry a password. */
function unavailable(url: string, cause: unknown): AppError {
  let location = "REDIS_URL";
  if (URL.canParse(url)) {
    const parsed = new URL(url);
    location = `${parsed.hostname}:${parsed.port || "6379"}`;
  }
  const reason = (cause as NodeJS.ErrnoException | null)?.code ?? (cause instanceof Error ? cause.name : "unknown error");
  return AppError.retryable("DATABASE_UNAVAILABLE", `kv_store cannot reach Redis at ${location} (${reason}); check REDIS_URL`, { cause });
}
