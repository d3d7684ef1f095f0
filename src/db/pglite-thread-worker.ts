import { inspect } from "node:util";
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { prepareDataDir } from "./data-dir-template.js";
import type { DatabaseThreadData, FromDatabaseThread, ToDatabaseThread } from "./pglite-thread.js";

/**
 * The embedded database's thread (started by pglite-thread.ts): it opens PGlite on the data directory, then
 * runs each protocol message it is sent and answers with PGlite's raw response bytes. A long query blocks this
 * thread's event loop only.
 */

// PGlite's file system layer throws Emscripten errors that are not Errors, e.g. `{ name: "ErrnoError", errno: 54 }`.
function describe(error: unknown): string {
  return error instanceof Error ? error.message : inspect(error, { breakLength: Infinity });
}

function reply(port: MessagePort, message: FromDatabaseThread): void {
  // A result's bytes are PGlite's own fresh copy of its output, so they can move without another copy.
  const bytes = message.type === "result" ? message.bytes : undefined;
  const whole = bytes !== undefined && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  port.postMessage(message, whole ? [bytes.buffer as ArrayBuffer] : []);
}

async function answer(port: MessagePort, pglite: PGlite, message: ToDatabaseThread): Promise<void> {
  if (message.type === "close") {
    let error: string | undefined;
    try {
      await pglite.close();
    } catch (closeError) {
      error = describe(closeError);
    }
    // The main thread terminates this thread once it has the answer.
    reply(port, { type: "closed", error });
    return;
  }
  try {
    // Raw, not execProtocolStream: the parsed messages do not survive structured cloning (see pglite-thread.ts).
    const bytes = await pglite.execProtocolRaw(message.bytes);
    reply(port, { type: "result", id: message.id, bytes });
  } catch (error) {
    reply(port, { type: "exec-failed", id: message.id, message: describe(error) });
  }
}

async function serve(port: MessagePort, { dataDir }: DatabaseThreadData): Promise<void> {
  let pglite: PGlite;
  try {
    // The main thread holds the lock file; a fresh data directory is filled from the built template here.
    prepareDataDir(dataDir);
    pglite = await PGlite.create(dataDir);
  } catch (error) {
    // With no listener on the port, the thread ends once this message is sent.
    reply(port, { type: "open-failed", message: describe(error) });
    return;
  }
  // One message at a time, in the order sent: PGlite is one session, and the adapter's order is the protocol's.
  let previous = Promise.resolve();
  port.on("message", (message: ToDatabaseThread) => {
    previous = previous.then(() => answer(port, pglite, message));
  });
  reply(port, { type: "ready" });
}

if (parentPort === null) throw new Error("pglite-thread-worker.ts runs only as a worker thread (see pglite-thread.ts)");
await serve(parentPort, workerData as DatabaseThreadData);
