import { statSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { dirname } from "node:path";
import { AppError } from "../errors.js";
import type { OwnerFile } from "./owner-socket.js";
import { FRAME, readFrames, sendFrame } from "./owner-wire.js";
import { NotExecuted, OwnerGone } from "./session-arbiter.js";

/**
 * One connection from this process to the embedded database's owner (src/db/owner-socket.ts): requests go one
 * at a time, each answered under its id. When the connection ends without an answer, the request may or may not
 * have run (the owner may have died just after committing it), so it fails with DATABASE_UNAVAILABLE, retryable,
 * and never silently; only a NOT_EXECUTED answer says for certain that nothing ran.
 */
export class RemoteConnection {
  readonly #socket: Socket;
  readonly #pending = new Map<number, { resolve(reply: Uint8Array): void; reject(error: unknown): void }>();
  #nextId = 1;
  #gone: AppError | undefined;
  #closing = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Connects and presents the token; rejects when the owner is not there (any more) or refuses it. */
  static open(owner: OwnerFile): Promise<RemoteConnection> {
    const doubt = socketDirectoryDoubt(owner.socket);
    if (doubt !== undefined) {
      return Promise.reject(new AppError("DATABASE_UNAVAILABLE", `will not connect to the embedded database's owner (pid ${owner.pid}): ${doubt}; if no aos process is running, remove the stale aos.lock and aos.owner files`));
    }
    return new Promise((resolve, reject) => {
      const socket = connect(owner.socket);
      const connection = new RemoteConnection(socket);
      let welcomed = false;
      socket.once("connect", () => sendFrame(socket, FRAME.HELLO, 0, Buffer.from(owner.token, "hex")));
      socket.on("error", () => undefined);
      socket.once("close", () => {
        connection.#ended(`the process that holds the embedded database (pid ${owner.pid}) closed the connection`);
        if (!welcomed) reject(new AppError("DATABASE_UNAVAILABLE", `cannot connect to the embedded database's owner (pid ${owner.pid})`, { retryable: true }));
      });
      readFrames(socket, (frame) => {
        if (!welcomed) {
          welcomed = frame.kind === FRAME.WELCOME;
          if (welcomed) resolve(connection);
          else socket.destroy();
          return;
        }
        connection.#answer(frame.kind, frame.id, frame.payload);
      });
    });
  }

  /** True once the connection has ended: nothing more can be sent on it. */
  get gone(): boolean {
    return this.#closing || this.#gone !== undefined;
  }

  exec(request: Uint8Array): Promise<Uint8Array> {
    if (this.#closing) return Promise.reject(new NotExecuted("the process that held the embedded database is closing it"));
    if (this.#gone !== undefined) return Promise.reject(this.#gone);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      sendFrame(this.#socket, FRAME.EXEC, id, request);
    });
  }

  /** Ends the connection; the owner rolls back whatever this connection left open. */
  close(): void {
    this.#socket.destroy();
  }

  #answer(kind: number, id: number, payload: Uint8Array): void {
    if (kind === FRAME.CLOSING) {
      this.#closing = true;
      if (this.#pending.size === 0) this.close();
      return;
    }
    const waiter = this.#pending.get(id);
    this.#pending.delete(id);
    if (waiter === undefined) return;
    const text = new TextDecoder().decode(payload);
    if (kind === FRAME.RESULT) waiter.resolve(payload);
    else if (kind === FRAME.NOT_EXECUTED) waiter.reject(new NotExecuted(text));
    else waiter.reject(new AppError("DATABASE_UNAVAILABLE", `the embedded database failed: ${text}`));
    if (this.#closing && this.#pending.size === 0) this.close();
  }

  #ended(reason: string): void {
    this.#gone ??= new OwnerGone(`${reason}; try again: the next attempt reaches the database through its new owner`);
    for (const waiter of this.#pending.values()) waiter.reject(this.#gone);
    this.#pending.clear();
  }
}

/**
 * Why the owner file's socket may not be the owner's, or undefined: the token is sent to whoever listens there, so
 * the socket's directory must be this user's own and closed to everyone else (owner-socket.ts makes it so). A
 * directory another user made at that path (after a reboot emptied /tmp, say) is not trusted.
 */
function socketDirectoryDoubt(socketPath: string): string | undefined {
  let directory;
  try {
    directory = statSync(dirname(socketPath));
  } catch {
    return undefined; // Not there: connecting fails with a clear error of its own, and the lock may be stale.
  }
  const uid = process.getuid?.();
  if (uid !== undefined && directory.uid !== uid) return `its socket's directory ${dirname(socketPath)} belongs to another user`;
  if ((directory.mode & 0o077) !== 0) return `its socket's directory ${dirname(socketPath)} is open to other users`;
  return undefined;
}
