import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { listenForClientErrors } from "./pool-client-errors.js";
import type { Config } from "../config.js";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Database } from "./database.js";
import { inProcessSession } from "./embedded-session.js";
import { OWNER_FILE_NAME } from "./owner-socket.js";
import { pglitePool } from "./pglite-pool.js";
import { SessionArbiter } from "./session-arbiter.js";
import { SharedEmbeddedSession, type SharingOptions } from "./shared-session.js";
import { SQLSTATE, sqlstateOf } from "./sqlstate.js";
import { transientDatabaseCondition, transientRetryDelayMs } from "./transient.js";

/** The server's address for messages: host, port and database, never the user's password. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const database = parsed.pathname.replace(/^\//, "") || "(default database)";
    return `${parsed.hostname || "localhost"}:${parsed.port || "5432"}/${database}`;
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}

function unavailable(location: string, error: unknown): AppError {
  const passing = transientDatabaseCondition(error);
  if (passing !== undefined && sqlstateOf(error) !== undefined) {
    // The server answered: the URL is right, the server is busy or restarting.
    return new AppError("DATABASE_UNAVAILABLE", `PostgreSQL at ${location} refused the connection: ${passing}; try again shortly`, {
      cause: error,
      retryable: true,
    });
  }
  const state = sqlstateOf(error);
  const errno = (error as NodeJS.ErrnoException | null)?.code;
  const reason =
    state === SQLSTATE.INVALID_PASSWORD || state === SQLSTATE.INVALID_AUTHORIZATION
      ? "the server refused the credentials"
      : state === SQLSTATE.INVALID_CATALOG_NAME
        ? "the database does not exist"
        : errno === "ECONNREFUSED"
          ? "connection refused"
          : errno === "ENOTFOUND" || errno === "EAI_AGAIN"
            ? "host not found"
            : (errno ?? state ?? "connection failed");
  return new AppError(
    "DATABASE_UNAVAILABLE",
    `cannot reach PostgreSQL at ${location} (${reason}): check DATABASE_URL, or unset it to use the embedded database`,
    { cause: error },
  );
}

export interface ServerConnectOptions {
  /** How long to keep trying while the server is there but cannot take the connection yet; 0 tries once. */
  retryMs?: number;
  /** Told before each wait, in words, so a person sees why start-up takes longer. */
  onWait?: (message: string) => void;
}

/**
 * Opens a pool on the server and checks it with one query. A server that answers but cannot take the connection
 * now (too many connections, starting up, shutting down) is tried again with a jittered backoff for up to
 * `retryMs`; anything else (refused credentials, no such database, no server at the address) fails at once.
 */
export async function openServerDatabase(url: string, poolMax: number, connect: ServerConnectOptions = {}): Promise<Database> {
  const location = describeDatabaseUrl(url);
  const pool = new pg.Pool({ connectionString: url, max: poolMax, connectionTimeoutMillis: 10_000 });
  // An idle client whose server went away emits 'error' on the pool; pg-pool has already dropped it, and the
  // next checkout opens a fresh connection. Without a listener the process would crash.
  pool.on("error", () => undefined);
  listenForClientErrors(pool);
  const deadline = Date.now() + (connect.retryMs ?? 0);
  for (let failures = 1; ; failures += 1) {
    try {
      await pool.query("select 1");
      return { kind: "server", pool, location, close: () => pool.end() };
    } catch (error) {
      const failure = unavailable(location, error);
      const delayMs = transientRetryDelayMs(failures);
      if (!failure.retryable || Date.now() + delayMs > deadline) {
        await pool.end().catch(() => undefined);
        throw failure;
      }
      connect.onWait?.(`${failure.message} (retrying in ${delayMs} ms)`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/**
 * Wraps an open PGlite instance as a Database, behind a session arbiter like every embedded database (one
 * process only: an in-memory database for tests and scripts); closing it closes PGlite.
 */
export function embeddedDatabase(pglite: PGlite, location: string): Database {
  const session = inProcessSession(pglite);
  const arbiter = new SessionArbiter(session);
  const pool = pglitePool(() => arbiter.caller());
  return {
    kind: "pglite",
    pool,
    location,
    async close() {
      await pool.end();
      await session.close();
    },
  };
}

/** The embedded database on disk, shared with every other process on it (src/db/shared-session.ts). */
export interface EmbeddedDatabase extends Database {
  readonly sharing: SharedEmbeddedSession;
}

/**
 * Opens the embedded database under `dataDir`: as its owner when this process takes the lock file, or through
 * the process that holds it. `thread` puts PGlite on a worker thread whenever this process owns it.
 */
export async function openEmbeddedDatabase(dataDir: string, lockPath: string, options: Omit<SharingOptions, "thread"> & { thread?: boolean } = {}): Promise<EmbeddedDatabase> {
  const sharing = new SharedEmbeddedSession(
    { dataDir, lockPath, ownerFilePath: join(dirname(lockPath), OWNER_FILE_NAME) },
    { ...options, thread: options.thread === true },
  );
  await sharing.start();
  const pool = pglitePool(() => sharing.channel());
  // A client whose owner went away fails its queries, then pg emits 'error' on it, checked out or idle; the
  // failed queries already tell their callers, and an unheard 'error' would crash the process.
  pool.on("error", () => undefined);
  listenForClientErrors(pool);
  return {
    kind: "pglite",
    pool,
    location: dataDir,
    sharing,
    async close() {
      try {
        await pool.end();
      } finally {
        await sharing.close();
      }
    },
  };
}

export interface OpenDatabaseOptions {
  /**
   * Run the embedded database on a worker thread (src/db/pglite-thread.ts), so a long query never blocks this
   * thread's event loop: for long-lived processes that serve requests (`aos serve`). Default false: one-shot
   * commands keep PGlite in-process. Only when this process owns the embedded database; no effect with
   * DATABASE_URL.
   */
  embeddedThread?: boolean;
  /** Where the embedded database's owner reports a process it disconnected. */
  log?: Logger;
  /** Told while start-up waits for a busy or restarting server (DATABASE_URL only). */
  onWait?: (message: string) => void;
}

/** The database the configuration names: the server of DATABASE_URL, or the embedded one in AOS_HOME. */
export function openDatabase(config: Config, options: OpenDatabaseOptions = {}): Promise<Database> {
  if (config.databaseUrl !== undefined) {
    return openServerDatabase(config.databaseUrl, config.dbPoolMax, { retryMs: config.databaseConnectRetryMs, ...(options.onWait ? { onWait: options.onWait } : {}) });
  }
  return openEmbeddedDatabase(join(config.home, "pgdata"), join(config.home, "aos.lock"), {
    thread: options.embeddedThread === true,
    ...(options.log ? { log: options.log } : {}),
  });
}
