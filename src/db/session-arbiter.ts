import { AppError } from "../errors.js";
import type { SessionChannel } from "./pglite-pool.js";
import { DISCARD_ALL_MESSAGE, ProtocolPosition, requestIssue, ROLLBACK_MESSAGE, SYNC_MESSAGE } from "./protocol-position.js";

/**
 * One PGlite session shared by many clients, handed from one to the next only at a boundary
 * (src/db/protocol-position.ts): the owner's own pg clients and each connected process's are callers here.
 *
 * A caller that sends a request takes the session if no one holds it and keeps it until a reply leaves it at a
 * boundary: through a whole transaction, and through a Parse..Sync sequence. Everyone else's requests wait, first
 * come first served. So every transaction runs alone from BEGIN to COMMIT, exactly as on one connection, and no
 * reply can belong to another caller: requests run one at a time and each reply goes to whoever sent it.
 *
 * The invariant this rests on: between boundaries the session keeps no state a caller relies on. AOS sets only
 * transaction-local settings (`set_config(..., true)`), takes only transaction-level advisory locks, parses only
 * unnamed statements (a named one is refused here) and LISTENs only on a server (DATABASE_URL). A caller that
 * needed session state (a session-level lock, a temporary table) would see another's.
 *
 * A caller that goes away while it holds the session (`release`) is finished for: a Sync if it was inside an
 * extended sequence, then ROLLBACK, then the next caller gets a clean session. A caller with an idle limit that
 * sits inside a transaction longer than that is told (`onIdleTooLong`); its owner disconnects and releases it.
 */

/** The one session underneath: PGlite in this process or on its thread, answering raw protocol bytes. */
export interface RawSession {
  execRaw(request: Uint8Array): Promise<Uint8Array>;
}

/**
 * The process that owned the embedded database went away under a request: it may or may not have run. Transient
 * (src/db/transient.ts): the next transaction reaches the database through its next owner.
 */
export class OwnerGone extends AppError {
  constructor(message: string) {
    super("DATABASE_UNAVAILABLE", message, { retryable: true });
  }
}

/** Why a request was never run: the session is closing. The caller may send it again elsewhere. */
export class NotExecuted extends OwnerGone {}

interface Waiting {
  caller: ArbiterCaller;
  grant(): void;
  refuse(error: unknown): void;
}

export interface CallerOptions {
  /** Told when the caller has held the session inside a transaction, sending nothing, for `idleLimitMs`. */
  onIdleTooLong?: () => void;
  idleLimitMs?: number;
}

export class SessionArbiter {
  readonly #session: RawSession;
  #holder: ArbiterCaller | undefined;
  readonly #waiting: Waiting[] = [];
  #closing: string | undefined;
  #idle: (() => void) | undefined;
  /** Who sent the last request: a different caller's first request is preceded by DISCARD ALL. */
  #lastCaller: ArbiterCaller | undefined;

  constructor(session: RawSession) {
    this.#session = session;
  }

  caller(options: CallerOptions = {}): ArbiterCaller {
    return new ArbiterCaller(this, options);
  }

  /** Whether some caller holds the session now (a transaction or sequence is open). */
  get held(): boolean {
    return this.#holder !== undefined;
  }

  /**
   * Stops handing the session out: waits until no caller holds it, then refuses every waiting and later
   * request with NotExecuted (`reason`), so their callers can try them again on the next owner.
   */
  async close(reason: string): Promise<void> {
    this.#closing = reason;
    if (this.#holder !== undefined) await new Promise<void>((resolve) => (this.#idle = resolve));
    for (const waiting of this.#waiting.splice(0)) waiting.refuse(new NotExecuted(reason));
  }

  /** @internal Waits for the session (or keeps it), runs one request, and hands the session on at a boundary. */
  async run(caller: ArbiterCaller, request: Uint8Array): Promise<Uint8Array> {
    const issue = requestIssue(request);
    if (issue !== undefined) throw new AppError("DATABASE_UNAVAILABLE", `refused on the shared embedded database: ${issue}`);
    await this.#take(caller);
    let reply: Uint8Array;
    try {
      // A session that passes to another caller starts clean: whatever state the last one left (a SET without
      // LOCAL, a temporary table, a session lock, a LISTEN, a PREPARE in SQL) is discarded, as PgBouncer's
      // server_reset_query does. At a boundary no transaction is open, so DISCARD ALL may run.
      if (this.#lastCaller !== undefined && this.#lastCaller !== caller) await this.#session.execRaw(DISCARD_ALL_MESSAGE);
      this.#lastCaller = caller;
      reply = await this.#session.execRaw(request);
    } catch (error) {
      // PGlite itself failed: its state is unknown, and keeping the session would stall every other caller.
      this.#handOn(caller);
      throw error;
    }
    caller.position.answered(request, reply);
    if (caller.position.atBoundary) this.#handOn(caller);
    return reply;
  }

  /** @internal Ends whatever `caller` left open, then lets the next caller in. */
  async finish(caller: ArbiterCaller): Promise<void> {
    const index = this.#waiting.findIndex((waiting) => waiting.caller === caller);
    if (index >= 0) this.#waiting.splice(index, 1)[0]?.refuse(new AppError("DATABASE_UNAVAILABLE", "the connection to the database was closed"));
    if (this.#holder !== caller) return;
    try {
      if (caller.position.inSequence) caller.position.answered(SYNC_MESSAGE, await this.#session.execRaw(SYNC_MESSAGE));
      if (!caller.position.atBoundary) caller.position.answered(ROLLBACK_MESSAGE, await this.#session.execRaw(ROLLBACK_MESSAGE));
    } finally {
      this.#handOn(caller);
    }
  }

  async #take(caller: ArbiterCaller): Promise<void> {
    if (this.#holder === caller) return;
    // In-process PGlite answers without yielding to I/O: a caller here that loops on queries would never let a
    // remote's request (still in its socket) into the line. One turn of the event loop lets it queue first.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.#closing !== undefined) throw new NotExecuted(this.#closing);
    if (this.#holder === undefined) {
      this.#holder = caller;
      return;
    }
    await new Promise<void>((grant, refuse) => this.#waiting.push({ caller, grant, refuse }));
  }

  #handOn(caller: ArbiterCaller): void {
    if (this.#holder !== caller) return;
    this.#holder = undefined;
    if (this.#closing !== undefined) {
      this.#idle?.();
      return;
    }
    const next = this.#waiting.shift();
    if (next === undefined) return;
    this.#holder = next.caller;
    next.grant();
  }

  /** @internal */
  holds(caller: ArbiterCaller): boolean {
    return this.#holder === caller;
  }
}

/** One client of the shared session: its requests run one at a time, in the order sent. */
export class ArbiterCaller implements SessionChannel {
  readonly position = new ProtocolPosition();
  readonly #arbiter: SessionArbiter;
  readonly #options: CallerOptions;
  #chain: Promise<unknown> = Promise.resolve();
  #idleTimer: NodeJS.Timeout | undefined;
  #released = false;
  #inFlight = 0;

  constructor(arbiter: SessionArbiter, options: CallerOptions) {
    this.#arbiter = arbiter;
    this.#options = options;
  }

  exec(request: Uint8Array): Promise<Uint8Array> {
    clearTimeout(this.#idleTimer);
    if (this.#released) return Promise.reject(new AppError("DATABASE_UNAVAILABLE", "the connection to the database was closed"));
    this.#inFlight += 1;
    const reply = this.#chain.then(() => this.#arbiter.run(this, request));
    this.#chain = reply.then(
      () => this.#watchIdle(),
      () => undefined,
    ).finally(() => {
      this.#inFlight -= 1;
    });
    return reply;
  }

  /** This caller is gone: after its request in flight, whatever it left open is ended on its behalf. */
  release(): Promise<void> {
    this.#released = true;
    clearTimeout(this.#idleTimer);
    const finished = this.#chain.then(() => this.#arbiter.finish(this));
    this.#chain = finished.catch(() => undefined);
    return finished;
  }

  /** As a pg client's channel (src/db/pglite-pool.ts): the client ended. */
  close(): void {
    void this.release().catch(() => undefined);
  }

  #watchIdle(): void {
    const { onIdleTooLong, idleLimitMs } = this.#options;
    if (onIdleTooLong === undefined || idleLimitMs === undefined || this.#inFlight > 1 || !this.#arbiter.holds(this)) return;
    this.#idleTimer = setTimeout(onIdleTooLong, idleLimitMs);
    this.#idleTimer.unref();
  }
}
