import { OwnerGone } from "./session-arbiter.js";
import { sqlstateOf } from "./sqlstate.js";

/*
 * Database errors that say nothing about the work that met them: the server restarted, a backend was terminated,
 * the connection dropped, every connection slot was taken, a transaction lost a serialization race, or the process
 * that owned the embedded database went away (src/db/shared-session.ts: OwnerGone). The same
 * work, tried again a moment later, can succeed. Everything else (a constraint, a bad statement, a lost fence) is
 * an answer, not an accident, and is never retried as if it were one.
 */

/** SQLSTATEs of conditions that pass: by class (08: connection exception) or by code. */
const TRANSIENT_SQLSTATE_CLASSES = ["08"];
const TRANSIENT_SQLSTATES: Record<string, string> = {
  "53300": "the server has no free connection slot (too many connections)",
  "57P01": "the server terminated the connection (administrator command or restart)",
  "57P02": "the server is restarting after a crash",
  "57P03": "the server is starting up or shutting down",
  "40001": "a serialization failure",
  "40P01": "a deadlock, resolved by the server",
};

/** Network errors of the socket under a connection. */
const TRANSIENT_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

/**
 * node-postgres reports a dropped or timed-out connection with a plain Error and no code, so these are its exact
 * messages (node_modules/pg/lib/client.js, pg-pool/index.js, pg 8.x): the one place AOS reads an error's text.
 */
const PG_CONNECTION_MESSAGES = new Set([
  "Connection terminated unexpectedly",
  "Connection terminated",
  "Client has encountered a connection error and is not queryable",
  "timeout exceeded when trying to connect",
  "Connection terminated due to connection timeout",
  "Query read timeout",
]);

/** What passed, in words, when `error` is a transient database condition; undefined when it is not one. */
export function transientDatabaseCondition(error: unknown): string | undefined {
  for (let cause = error, depth = 0; cause !== undefined && cause !== null && depth < 5; depth += 1) {
    const state = sqlstateOf(cause);
    if (state !== undefined) {
      if (TRANSIENT_SQLSTATES[state] !== undefined) return `${TRANSIENT_SQLSTATES[state]} (SQLSTATE ${state})`;
      if (TRANSIENT_SQLSTATE_CLASSES.some((prefix) => state.startsWith(prefix))) return `the connection failed (SQLSTATE ${state})`;
      return undefined;
    }
    if (cause instanceof OwnerGone) return `the embedded database's owner went away (${cause.message})`;
    const errno = (cause as NodeJS.ErrnoException).code;
    if (typeof errno === "string" && TRANSIENT_ERRNOS.has(errno)) return `the connection failed (${errno})`;
    if (cause instanceof Error && PG_CONNECTION_MESSAGES.has(cause.message)) return `the connection was lost (${cause.message})`;
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isTransientDatabaseError(error: unknown): boolean {
  return transientDatabaseCondition(error) !== undefined;
}

/** A jittered exponential delay for the n-th consecutive transient failure (n ≥ 1): 100 ms doubling to 2 s, ±50 %. */
export function transientRetryDelayMs(failureNumber: number, random: () => number = Math.random): number {
  const base = Math.min(100 * 2 ** Math.max(0, failureNumber - 1), 2000);
  return Math.round(base * (0.5 + random()));
}
