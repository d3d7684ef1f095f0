import { Worker } from "node:worker_threads";
import { AppError } from "../errors.js";
import type { RawSession } from "./session-arbiter.js";

/**
 * The embedded database on a worker thread of its own. PGlite is synchronous WASM: in-process, a 1 s query
 * freezes every other request for 1 s (reference/dependencies.md §1). Here PGlite runs in
 * pglite-thread-worker.ts, and this thread keeps the same pg.Pool over PGlite's node-postgres adapter as the
 * in-process path, through the same session arbiter (src/db/embedded-session.ts); only protocol bytes cross.
 *
 * What crosses is raw wire-protocol bytes both ways, parsed on this thread with PGlite's own protocol parser. The parsed
 * messages do not survive structured cloning: an ErrorResponse is a DatabaseError (an Error), which arrives as
 * a bare Error without `code`, `severity` or `name: "error"`, so the adapter would not even see it as an
 * error and pg would report the failed query as a success. Bytes also transfer without a copy.
 */

/** What this thread asks the database thread. */
export type ToDatabaseThread = { type: "exec"; id: number; bytes: Uint8Array } | { type: "close" };

/** What the database thread answers: first `ready` or `open-failed`, then one reply per request. */
export type FromDatabaseThread =
  | { type: "ready" }
  | { type: "open-failed"; message: string }
  | { type: "result"; id: number; bytes: Uint8Array }
  | { type: "exec-failed"; id: number; message: string }
  | { type: "closed"; error?: string };

export interface DatabaseThreadData {
  dataDir: string;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * Compiled, this module is dist/db/pglite-thread.js with the worker's .js beside it. Under vitest or tsx it is
 * the .ts source, and the thread loads the .ts worker through tsx's tsImport: on Node 20, `--import tsx` in a
 * Worker's execArgv does not cover the worker's own entry module (tried: ERR_UNKNOWN_FILE_EXTENSION).
 */
function startWorker(workerData: DatabaseThreadData): Worker {
  if (!import.meta.url.endsWith(".ts")) {
    return new Worker(new URL("./pglite-thread-worker.js", import.meta.url), { workerData });
  }
  const script = JSON.stringify(new URL("./pglite-thread-worker.ts", import.meta.url).href);
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  return new Worker(`import(${tsx}).then((tsx) => tsx.tsImport(${script}, ${script}))`, { eval: true, workerData });
}

/** This thread's end of the database thread: requests in flight by id, and what ended the thread, once it has. */
export class DatabaseThread implements RawSession {
  readonly worker: Worker;
  readonly #dataDir: string;
  readonly #pending = new Map<number, Waiter<Uint8Array>>();
  readonly #exited: Promise<number>;
  /** Resolves once PGlite is open on the thread; rejects with why it could not open. */
  readonly opened: Promise<void>;
  #nextId = 1;
  #opened: Waiter<void> | undefined;
  #closed: ((error: string | undefined) => void) | undefined;
  #closing = false;
  #crash: unknown;
  #stopped: AppError | undefined;

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
    this.opened = new Promise((resolve, reject) => {
      this.#opened = { resolve, reject };
    });
    this.worker = startWorker({ dataDir });
    this.worker.on("message", (message: FromDatabaseThread) => this.#onMessage(message));
    this.worker.on("error", (error) => {
      this.#crash = error;
    });
    this.#exited = new Promise((resolve) => {
      this.worker.once("exit", (code) => {
        this.#onExit(code);
        resolve(code);
      });
    });
  }

  /** PGlite's raw reply to `bytes`; database errors come back as ErrorResponse messages inside it. */
  execRaw(bytes: Uint8Array): Promise<Uint8Array> {
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      // Copied, not transferred: pg's serializer may hand out a view of a buffer it reuses.
      this.worker.postMessage({ type: "exec", id, bytes } satisfies ToDatabaseThread);
    });
  }

  /** Closes PGlite on the thread and waits for the thread to end; safe to call after the thread died. */
  async close(): Promise<void> {
    this.#closing = true;
    let error: string | undefined;
    if (this.#stopped === undefined) {
      const closed = new Promise<string | undefined>((resolve) => {
        this.#closed = resolve;
      });
      this.worker.postMessage({ type: "close" } satisfies ToDatabaseThread);
      error = await Promise.race([closed, this.#exited.then(() => undefined)]);
    }
    await this.worker.terminate();
    await this.#exited;
    if (error !== undefined) {
      throw new AppError("DATABASE_UNAVAILABLE", `closing the embedded database at ${this.#dataDir} failed: ${error}`);
    }
  }

  #onMessage(message: FromDatabaseThread): void {
    switch (message.type) {
      case "ready":
        this.#opened?.resolve();
        return;
      case "open-failed":
        this.#opened?.reject(this.#openFailed(message.message));
        return;
      case "result":
        this.#take(message.id)?.resolve(message.bytes);
        return;
      case "exec-failed":
        this.#take(message.id)?.reject(
          new AppError("DATABASE_UNAVAILABLE", `the embedded database at ${this.#dataDir} failed: ${message.message}`),
        );
        return;
      case "closed":
        this.#closed?.(message.error);
        return;
    }
  }

  #take(id: number): Waiter<Uint8Array> | undefined {
    const waiter = this.#pending.get(id);
    this.#pending.delete(id);
    return waiter;
  }

  /** Every request still waiting, and every later one, fails: a dead thread must never leave a query hanging. */
  #onExit(code: number): void {
    const reason = this.#crash instanceof Error ? `: ${this.#crash.message}` : "";
    this.#stopped = this.#closing
      ? new AppError("DATABASE_UNAVAILABLE", `the embedded database at ${this.#dataDir} is closed`)
      : new AppError(
          "DATABASE_UNAVAILABLE",
          `the embedded database's thread stopped (exit code ${code}${reason}): restart AOS to reopen ${this.#dataDir}`,
          { cause: this.#crash },
        );
    this.#opened?.reject(this.#openFailed(`its thread exited with code ${code}${reason}`));
    for (const waiter of this.#pending.values()) waiter.reject(this.#stopped);
    this.#pending.clear();
  }

  #openFailed(reason: string): AppError {
    return new AppError(
      "DATABASE_UNAVAILABLE",
      `cannot open the embedded database at ${this.#dataDir}: ${reason}; check that it is a directory AOS can ` +
        "write, or set AOS_HOME to another directory",
      { cause: this.#crash },
    );
  }
}

/** Starts the embedded database under `dataDir` on a worker thread; resolves once PGlite is open there. */
export async function startDatabaseThread(dataDir: string): Promise<DatabaseThread> {
  const thread = new DatabaseThread(dataDir);
  try {
    await thread.opened;
  } catch (error) {
    await thread.close().catch(() => undefined);
    throw error;
  }
  return thread;
}
