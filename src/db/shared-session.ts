import { setTimeout as sleep } from "node:timers/promises";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import { type EmbeddedSession, openEmbeddedSession } from "./embedded-session.js";
import { DATABASE_REFUSALS, type LockFile, tryAcquireLockFile } from "./lock-file.js";
import { readOwnerFile, serveOwnerSocket, type OwnerFile, type OwnerSocket } from "./owner-socket.js";
import type { SessionChannel } from "./pglite-pool.js";
import { ProtocolPosition } from "./protocol-position.js";
import { RemoteConnection } from "./remote-session.js";
import { NotExecuted, SessionArbiter } from "./session-arbiter.js";

/**
 * The embedded database as one process among several sees it. Whoever takes the lock file is the *owner*: it
 * opens PGlite, puts the session arbiter in front of it, and serves other processes on its owner socket. Every
 * other process is a *remote*: its pg clients talk to the owner over that socket. Which one this process is can
 * change while it runs, under the same pg.Pool:
 *
 * - the owner dies (SIGKILL): a remote's request in flight fails with DATABASE_UNAVAILABLE, retryable (it may
 *   have committed just before); its next transaction finds the lock stale, and the first remote to take it
 *   (O_EXCL decides) opens PGlite and becomes the owner, the others connect to it;
 * - the owner closes normally: it waits until no remote holds the session, answers every waiting request
 *   NOT_EXECUTED and releases the lock; a remote sends such a request again through the next owner, unseen.
 *
 * A channel (one pg client) changes owner only at a boundary (src/db/protocol-position.ts): a transaction never
 * continues on another owner, where it never began.
 */

/** The lock file's second line in a process that shares (an older AOS writes none). */
export const SHARED_LOCK_MARK = "shares: aos.owner";
/**
 * How long to wait for a sharing owner to publish its owner file (it opens PGlite first: a cold start with
 * initdb and migrations took 12 s on a loaded machine) or to finish closing.
 */
const OWNER_WAIT_MS = 60_000;
const OWNER_POLL_MS = 25;

export interface SharedSessionPaths {
  dataDir: string;
  lockPath: string;
  ownerFilePath: string;
}

export interface SharingOptions {
  /** PGlite on a worker thread whenever this process owns it (src/db/embedded-session.ts). */
  thread: boolean;
  /** Where the owner reports a process it disconnected. */
  log?: Logger;
  /** As owner: how long a remote may sit inside a transaction (default REMOTE_IDLE_IN_TRANSACTION_MS). */
  remoteIdleLimitMs?: number;
}

type Role =
  | { kind: "owner"; arbiter: SessionArbiter; embedded: EmbeddedSession; socket: OwnerSocket; lock: LockFile }
  | { kind: "remote"; owner: OwnerFile };

function closedError(dataDir: string): AppError {
  return new AppError("DATABASE_UNAVAILABLE", `the embedded database at ${dataDir} is closed`);
}

export class SharedEmbeddedSession {
  readonly #paths: SharedSessionPaths;
  readonly #options: SharingOptions;
  #role: Role | undefined;
  #resolving: Promise<Role> | undefined;
  #closed = false;

  constructor(paths: SharedSessionPaths, options: SharingOptions) {
    this.#paths = paths;
    this.#options = options;
  }

  /** Whether this process owns PGlite now or reaches it through another. */
  get role(): "owner" | "remote" | undefined {
    return this.#role?.kind;
  }

  /** PGlite's worker thread, when this process owns PGlite on one. */
  get thread(): EmbeddedSession["thread"] {
    return this.#role?.kind === "owner" ? this.#role.embedded.thread : undefined;
  }

  /** Settles who owns the database before the first query, so a refusal surfaces when the database is opened. */
  async start(): Promise<void> {
    await this.#currentRole(Date.now() + OWNER_WAIT_MS);
  }

  channel(): SessionChannel {
    return new SwitchingChannel(this);
  }

  /** A way in for one channel: a caller of this process's arbiter, or a connection to the owner. */
  async link(): Promise<SessionChannel & { readonly gone?: boolean }> {
    const deadline = Date.now() + OWNER_WAIT_MS;
    for (;;) {
      const role = await this.#currentRole(deadline);
      if (role.kind === "owner") return role.arbiter.caller();
      try {
        return await RemoteConnection.open(role.owner);
      } catch (error) {
        // Gone between reading its file and connecting (it closed or died): look again.
        this.forgetRemote();
        if (Date.now() > deadline) throw error;
      }
    }
  }

  /** The owner this process connected to is gone or going; the next link looks again. Never forgets itself. */
  forgetRemote(): void {
    if (this.#role?.kind === "remote") this.#role = undefined;
  }

  /**
   * As an owner: waits until no remote holds the session, then stops serving, closes PGlite and releases the
   * lock; remotes take over on their next request. As a remote: nothing to do (the pool closed its channels).
   */
  async close(): Promise<void> {
    this.#closed = true;
    const role = this.#role;
    this.#role = undefined;
    if (role?.kind !== "owner") return;
    try {
      await role.arbiter.close(`the process that held the embedded database (pid ${process.pid}) closed it`);
      await role.socket.close();
      await role.embedded.close();
    } finally {
      role.lock.release();
    }
  }

  #currentRole(deadline: number): Promise<Role> {
    if (this.#closed) return Promise.reject(closedError(this.#paths.dataDir));
    if (this.#role !== undefined) return Promise.resolve(this.#role);
    this.#resolving ??= this.#resolveRole(deadline).finally(() => {
      this.#resolving = undefined;
    });
    return this.#resolving;
  }

  async #resolveRole(deadline: number): Promise<Role> {
    const { lockPath, ownerFilePath } = this.#paths;
    for (;;) {
      const lock = tryAcquireLockFile(lockPath, SHARED_LOCK_MARK);
      if ("release" in lock) return (this.#role = await this.#becomeOwner(lock));
      const { heldBy } = lock;
      if (heldBy === process.pid) throw DATABASE_REFUSALS.inUse(heldBy, lockPath);
      if (heldBy !== undefined && lock.mark !== SHARED_LOCK_MARK) throw DATABASE_REFUSALS.inUse(heldBy, lockPath);
      const owner = readOwnerFile(ownerFilePath);
      if (owner !== undefined && owner.pid === heldBy) return (this.#role = { kind: "remote", owner });
      if (Date.now() > deadline) {
        throw new AppError(
          "DATABASE_LOCKED",
          `pid ${heldBy ?? "?"} holds the embedded database (lock file ${lockPath}) but has not published ${ownerFilePath} for ${OWNER_WAIT_MS / 1000} s: stop that process, or set AOS_HOME to another directory`,
          { details: { pid: heldBy, lockFile: lockPath } },
        );
      }
      // The owner is opening PGlite, or closing it: its file appears, or its lock goes, in a moment.
      await sleep(OWNER_POLL_MS);
    }
  }

  async #becomeOwner(lock: LockFile): Promise<Role> {
    let embedded: EmbeddedSession | undefined;
    try {
      embedded = await openEmbeddedSession(this.#paths.dataDir, { thread: this.#options.thread });
      const arbiter = new SessionArbiter(embedded);
      const { log, remoteIdleLimitMs } = this.#options;
      const socket = await serveOwnerSocket(arbiter, {
        ownerFilePath: this.#paths.ownerFilePath,
        ...(log ? { log } : {}),
        ...(remoteIdleLimitMs !== undefined ? { idleLimitMs: remoteIdleLimitMs } : {}),
      });
      return { kind: "owner", arbiter, embedded, socket, lock };
    } catch (error) {
      await embedded?.close().catch(() => undefined);
      lock.release();
      throw error;
    }
  }
}

/**
 * One pg client's channel, which follows the owner: at a boundary it may move to a new link (the owner
 * changed, or it closed and answered NOT_EXECUTED); inside a transaction, losing its link breaks it for good,
 * and pg discards the client.
 */
class SwitchingChannel implements SessionChannel {
  readonly #shared: SharedEmbeddedSession;
  readonly #position = new ProtocolPosition();
  #link: (SessionChannel & { readonly gone?: boolean }) | undefined;
  #broken: unknown;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(shared: SharedEmbeddedSession) {
    this.#shared = shared;
  }

  exec(request: Uint8Array): Promise<Uint8Array> {
    const reply = this.#chain.then(() => this.#send(request));
    this.#chain = reply.catch(() => undefined);
    return reply;
  }

  close(): void {
    this.#chain = this.#chain.then(() => this.#link?.close());
  }

  async #send(request: Uint8Array): Promise<Uint8Array> {
    if (this.#broken !== undefined) throw this.#broken;
    for (;;) {
      if (this.#link?.gone === true && this.#position.atBoundary) {
        this.#shared.forgetRemote();
        this.#link = undefined;
      }
      try {
        this.#link ??= await this.#shared.link();
        const reply = await this.#link.exec(request);
        this.#position.answered(request, reply);
        return reply;
      } catch (error) {
        if (error instanceof NotExecuted && this.#position.atBoundary) {
          this.#shared.forgetRemote();
          this.#link = undefined;
          continue;
        }
        this.#broken = error;
        if (this.#link?.gone === true) this.#shared.forgetRemote();
        throw error;
      }
    }
  }
}
