import { vi } from "vitest";
import type { Database } from "../../src/db/database.js";

/**
 * Changes rows the way a database superuser could: in one transaction with triggers (and with them foreign keys)
 * switched off. Check constraints still apply, as they do for a superuser.
 */
export async function asSuperuser(db: Database, ...statements: [string, unknown[]?][]): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    for (const [sql, params] of statements) await client.query(sql, params ?? []);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Runs `work` with this process's clock set `days` back (only Date is faked; timers run): runs it records carry those
 * times throughout, hashed and signed, as a run recorded back then would. Moving a finished run's times in the
 * database instead would be tampering.
 */
export async function daysAgo<T>(days: number, work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() - days * 86_400_000);
  try {
    return await work();
  } finally {
    vi.useRealTimers();
  }
}
