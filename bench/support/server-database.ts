import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrate } from "../../src/db/migrate.js";
import { describeDatabaseUrl, openServerDatabase } from "../../src/db/open-database.js";
import type { BenchServer } from "./benchmark.js";

export type ServerSetup =
  | { ok: true; server: BenchServer; drop(): Promise<void> }
  | { ok: false; reason: string };

/**
 * Creates and migrates `aos_bench_<random>` on the server of `adminUrl`, so the suite never reads or writes
 * another database's tables. An unreachable server is a reason to skip, not an error.
 */
export async function createBenchDatabase(adminUrl: string): Promise<ServerSetup> {
  const name = `aos_bench_${randomBytes(6).toString("hex")}`;
  try {
    await adminQuery(adminUrl, `create database ${name}`);
  } catch (error) {
    return { ok: false, reason: `cannot create a database on ${describeDatabaseUrl(adminUrl)}: ${describe(error)}` };
  }
  const drop = () => adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
  const url = withDatabase(adminUrl, name);
  try {
    const db = await openServerDatabase(url, 2);
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
  } catch (error) {
    await drop();
    throw error;
  }
  return { ok: true, server: { url, location: describeDatabaseUrl(url) }, drop };
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  // Node reports a refused "localhost" (tried on ::1 and 127.0.0.1) as an AggregateError with no message.
  const first = error instanceof AggregateError ? (error.errors[0] as unknown) : error;
  const message = first instanceof Error ? first.message : String(first);
  return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message;
}
