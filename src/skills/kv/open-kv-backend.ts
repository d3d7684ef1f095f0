import type { Database } from "../../db/database.js";
import type { SkillSettings } from "../contract.js";
import type { KvBackend } from "./kv-backend.js";
import { PostgresKv } from "./postgres-kv.js";
import { RedisKv } from "./redis-kv.js";

/**
 * kv_store's backend: Redis when REDIS_URL is set, AOS's own database otherwise. Both are cheap to make (neither
 * holds a connection between calls), so the runner makes one per run.
 */
export function openKvBackend(settings: Pick<SkillSettings, "redisUrl">, db: Database): KvBackend {
  return settings.redisUrl === undefined ? new PostgresKv(db) : new RedisKv({ url: settings.redisUrl });
}
