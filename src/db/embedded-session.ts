import type { Worker } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { startDatabaseThread } from "./pglite-thread.js";
import type { RawSession } from "./session-arbiter.js";

/**
 * PGlite itself, opened on a data directory: in this process, or on a worker thread of its own
 * (src/db/pglite-thread.ts) for a process that serves requests and must not freeze during a long query. Either
 * way it is one session answering raw protocol bytes; src/db/session-arbiter.ts decides who talks to it.
 */
export interface EmbeddedSession extends RawSession {
  /** The worker thread PGlite runs on, when it does (for tests that kill it). */
  readonly thread?: Worker;
  close(): Promise<void>;
}

/** Wraps an open PGlite (an in-memory one for tests, or one on disk). */
export function inProcessSession(pglite: PGlite): EmbeddedSession {
  return {
    execRaw: (request) => pglite.execProtocolRaw(request),
    close: () => pglite.close(),
  };
}

export async function openEmbeddedSession(dataDir: string, options: { thread: boolean }): Promise<EmbeddedSession> {
  if (!options.thread) return inProcessSession(await PGlite.create(dataDir));
  const thread = await startDatabaseThread(dataDir);
  return { execRaw: (request) => thread.execRaw(request), close: () => thread.close(), thread: thread.worker };
}
