import { randomBytes, timingSafeEqual } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger, type Logger } from "../logger.js";
import { FRAME, readFrames, sendFrame } from "./owner-wire.js";
import { NotExecuted, type SessionArbiter } from "./session-arbiter.js";

/**
 * The owner's door for other processes on the same embedded database. It listens on a Unix socket in a fresh
 * directory only this user can enter (mkdtemp, mode 0700, under the temp directory: a socket path may be only
 * about 104 bytes, too short for an arbitrary AOS_HOME), then publishes the owner file in AOS_HOME (mode 0600,
 * written whole and renamed into place): pid, socket path and a random 256-bit token. A connection whose first
 * frame does not carry the token is closed, so only a process that can read AOS_HOME gets in.
 *
 * Each connection is one caller of the session arbiter. A connection that closes (its process exited or was
 * killed) is released: whatever it left open is rolled back. One that sits inside a transaction for
 * REMOTE_IDLE_IN_TRANSACTION_MS is closed and released the same way, so a stopped or hung process cannot stall
 * everyone else.
 */

/**
 * How long a connected process may hold the session inside a transaction without sending anything. AOS's own
 * transactions never wait on anything but the database (skills run outside them; the longest, a migration or a
 * retention prune, is busy the whole time), so 30 s of silence means the process is stopped or stuck.
 */
export const REMOTE_IDLE_IN_TRANSACTION_MS = 30_000;

export const OWNER_FILE_NAME = "aos.owner";
/** A HELLO frame: kind, request id and the 32-byte token. Nothing longer is read from a peer that has not said it. */
const HELLO_FRAME_BYTES = 5 + 32;
/** How long a closing owner waits for remotes to hang up after CLOSING (they do as soon as their replies arrive). */
const CLOSE_GRACE_MS = 5_000;

export interface OwnerFile {
  pid: number;
  socket: string;
  token: string;
}

export function readOwnerFile(path: string): OwnerFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<OwnerFile>;
    const { pid, socket, token } = parsed;
    if (typeof pid !== "number" || typeof socket !== "string" || typeof token !== "string") return undefined;
    return { pid, socket, token };
  } catch {
    return undefined;
  }
}

export interface OwnerSocket {
  /** Connected processes right now. */
  readonly connections: number;
  /** Stops listening, closes every connection and removes the owner file and the socket's directory. */
  close(): Promise<void>;
}

export interface OwnerSocketOptions {
  ownerFilePath: string;
  log?: Logger;
  idleLimitMs?: number;
}

function tokenMatches(expected: Buffer, given: Uint8Array): boolean {
  return given.length === expected.length && timingSafeEqual(expected, given);
}

function serveConnection(socket: Socket, arbiter: SessionArbiter, token: Buffer, options: OwnerSocketOptions): void {
  const log = options.log ?? silentLogger;
  let caller: ReturnType<SessionArbiter["caller"]> | undefined;
  socket.on("error", () => undefined);
  socket.on("close", () => void caller?.release().catch(() => undefined));
  readFrames(socket, ({ kind, id, payload }) => {
    if (caller === undefined) {
      if (kind !== FRAME.HELLO || !tokenMatches(token, payload)) {
        socket.destroy();
        return;
      }
      caller = arbiter.caller({
        idleLimitMs: options.idleLimitMs ?? REMOTE_IDLE_IN_TRANSACTION_MS,
        onIdleTooLong: () => {
          log.warn("a process held the embedded database inside a transaction without a word; disconnected and rolled back", {
            idleLimitMs: options.idleLimitMs ?? REMOTE_IDLE_IN_TRANSACTION_MS,
          });
          socket.destroy();
        },
      });
      sendFrame(socket, FRAME.WELCOME, id);
      return;
    }
    if (kind !== FRAME.EXEC) {
      socket.destroy();
      return;
    }
    caller.exec(payload).then(
      (reply) => {
        if (!socket.destroyed) sendFrame(socket, FRAME.RESULT, id, reply);
      },
      (error: unknown) => {
        if (socket.destroyed) return;
        const kindOfFailure = error instanceof NotExecuted ? FRAME.NOT_EXECUTED : FRAME.FAILED;
        sendFrame(socket, kindOfFailure, id, new TextEncoder().encode(error instanceof Error ? error.message : String(error)));
      },
    );
  }, () => (caller === undefined ? HELLO_FRAME_BYTES : Number.MAX_SAFE_INTEGER));
}

/** Starts listening for `arbiter`, then publishes the owner file; resolves once others can connect. */
export async function serveOwnerSocket(arbiter: SessionArbiter, options: OwnerSocketOptions): Promise<OwnerSocket> {
  const directory = mkdtempSync(join(tmpdir(), "aos-db-"));
  const socketPath = join(directory, "owner.sock");
  const token = randomBytes(32);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    serveConnection(socket, arbiter, token, options);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });
    const published: OwnerFile = { pid: process.pid, socket: socketPath, token: token.toString("hex") };
    const temporary = `${options.ownerFilePath}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(published)}\n`, { mode: 0o600 });
    renameSync(temporary, options.ownerFilePath);
  } catch (error) {
    server.close();
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  // A server that keeps no process alive on its own: the owner's command decides when the process ends.
  server.unref();
  return {
    get connections() {
      return sockets.size;
    },
    async close() {
      if (readOwnerFile(options.ownerFilePath)?.pid === process.pid) rmSync(options.ownerFilePath, { force: true });
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) sendFrame(socket, FRAME.CLOSING, 0);
      // Each remote closes its connection once its requests are answered; one that does not is cut off.
      const cutOff = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(cutOff);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
