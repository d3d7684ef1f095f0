import { performance } from "node:perf_hooks";
import type { Database } from "../../src/db/database.js";

/** The scratch table of the bare-INSERT anchor, in the suite's own database; every server benchmark may use it. */
export async function createScratchTable(db: Database): Promise<void> {
  await db.pool.query(`create table if not exists bench_scratch (
  id bigint generated always as identity primary key,
  payload jsonb not null
)`);
}

/** The anchor: BEGIN; INSERT one small row; COMMIT on a pooled client, a minimal durable write. */
export async function bareInsert(db: Database): Promise<number> {
  const start = performance.now();
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("insert into bench_scratch (payload) values ($1::jsonb)", ['{"bench":true}']);
    await client.query("commit");
  } finally {
    client.release();
  }
  return performance.now() - start;
}

/** The floor under every statement: one round trip to the server through the pool, nothing written. */
export async function roundTrip(db: Database): Promise<number> {
  const start = performance.now();
  await db.pool.query("select 1");
  return performance.now() - start;
}
