import type { Worker } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { prepareDataDir } from "./data-dir-template.js";
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

/**
 * PostgreSQL's start parameters for PGlite in the command's own thread (every verb but `aos serve` and `aos dev`):
 * PGlite's own, with a 16 MB buffer pool instead of 128 MB. PGlite touches its whole pool while it starts (resident
 * memory after PGlite.create: 284 MiB with 128 MB, 162 MiB with 16 MB), while a command touches a small part of the
 * database; the operating system's page cache below PGlite still holds the files. The database thread keeps
 * PGlite's default.
 */
const IN_PROCESS_START_PARAMS = [...PGlite.defaultStartParams, "-c", "shared_buffers=16MB"];

/**
 * Opens PGlite on `dataDir`; the caller holds the lock file, so a fresh `dataDir` is filled from the built
 * template (data-dir-template.ts) by this process alone (the thread does the same on its side).
 */
export async function openEmbeddedSession(dataDir: string, options: { thread: boolean }): Promise<EmbeddedSession> {
  if (!options.thread) {
    prepareDataDir(dataDir);
    return inProcessSession(await PGlite.create(dataDir, { startParams: IN_PROCESS_START_PARAMS }));
  }
  const thread = await startDatabaseThread(dataDir);
  return { execRaw: (request) => thread.execRaw(request), close: () => thread.close(), thread: thread.worker };
}
