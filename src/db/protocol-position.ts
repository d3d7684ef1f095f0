/**
 * Where one client stands in PostgreSQL's wire protocol (protocol v3, "Message Flow"), read from the bytes it
 * sends and the bytes it gets back, without parsing either fully. Every message is a type byte and an int32
 * length that counts itself (the adapter never sends a startup message, which has no type byte).
 *
 * A client is at a *boundary* when nothing it started is unfinished: its last reply ended with ReadyForQuery
 * whose status is 'I' (idle: no transaction open), and it has sent no extended-protocol message (Parse, Bind,
 * Describe, Execute, Close, Flush) since its last Sync. Only there may the one PGlite session pass to another
 * client (src/db/session-arbiter.ts): inside a transaction or a Parse..Sync sequence, another client's messages
 * would land in this client's transaction or unnamed statement.
 */

const READY_FOR_QUERY = 0x5a; // 'Z'
const SYNC = 0x53; // 'S'
const SIMPLE_QUERY = 0x51; // 'Q'
const PARSE = 0x50; // 'P'
const EXTENDED = new Set([PARSE, 0x42, 0x44, 0x45, 0x43, 0x48]); // P B D E C H
const DEFERRABLE = new Set([PARSE, 0x42, 0x44, 0x45, 0x43]); // not Flush: it asks for the replies now

/**
 * Calls `visit(type, body offset, body end)` for each whole message in `bytes`; stops at a length that cannot be
 * one (below 4, the length's own bytes), so no input can make it loop.
 */
function eachMessage(bytes: Uint8Array, visit: (type: number, start: number, end: number) => void): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 5 <= bytes.length; ) {
    const length = view.getInt32(at + 1);
    if (length < 4) return;
    const end = at + 1 + length;
    visit(bytes[at] as number, at + 5, Math.min(end, bytes.length));
    at = end;
  }
}

/** The only frontend messages AOS's pg clients send here: Query, Parse, Bind, Describe, Execute, Close, Flush, Sync. */
const SENT_BY_AOS = new Set([SIMPLE_QUERY, ...EXTENDED, SYNC]);

/**
 * Why `request` may not run on the shared session, or undefined when it may: every message whole (the lengths add
 * up to the bytes exactly), of a type AOS's clients send, and no named prepared statement. A request cut short, or
 * of a type PGlite then waits on (a copy, a function call), would hold the one session for good; a named statement
 * outlives its transaction in the one session every client shares, so a client could find another's (AOS sends
 * only unnamed ones: pg names a statement only when a query sets `name`, and none does).
 */
export function requestIssue(request: Uint8Array): string | undefined {
  const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
  for (let at = 0; at < request.length; ) {
    if (at + 5 > request.length) return "a message is cut short";
    const type = request[at] as number;
    const length = view.getInt32(at + 1);
    if (length < 4 || at + 1 + length > request.length) return "a message's length does not fit the request";
    if (!SENT_BY_AOS.has(type)) return `a message of type ${JSON.stringify(String.fromCharCode(type))} is not one AOS sends`;
    if (type === PARSE && request[at + 5] !== 0) return "a named prepared statement would outlive the transaction and be seen by other processes";
    at += 1 + length;
  }
  return request.length === 0 ? "the request is empty" : undefined;
}

/** The status byte of the last ReadyForQuery in a reply, as a letter ('I', 'T' or 'E'); undefined when none. */
export function readyStatus(reply: Uint8Array): string | undefined {
  let status: number | undefined;
  eachMessage(reply, (type, start) => {
    if (type === READY_FOR_QUERY) status = reply[start];
  });
  return status === undefined ? undefined : String.fromCharCode(status);
}

/** Whether every message in `request` is one whose reply may wait for the next Sync (Parse, Bind, Describe, Execute, Close). */
export function awaitsSync(request: Uint8Array): boolean {
  let waits = request.length > 0;
  eachMessage(request, (type) => {
    if (!DEFERRABLE.has(type)) waits = false;
  });
  return waits;
}

/** A client's place in the protocol: follow its requests and replies, and ask whether it is at a boundary. */
export class ProtocolPosition {
  #inSequence = false;
  #idle = true;

  /** After a request has been answered. */
  answered(request: Uint8Array, reply: Uint8Array): void {
    eachMessage(request, (type) => {
      if (type === SYNC || type === SIMPLE_QUERY) this.#inSequence = false;
      else if (EXTENDED.has(type)) this.#inSequence = true;
    });
    const status = readyStatus(reply);
    if (status !== undefined) this.#idle = status === "I";
  }

  get atBoundary(): boolean {
    return this.#idle && !this.#inSequence;
  }

  /** Unfinished extended-protocol messages: a Sync must end them before anything else is sent. */
  get inSequence(): boolean {
    return this.#inSequence;
  }
}

function message(type: string, body: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(5 + body.length);
  bytes[0] = type.charCodeAt(0);
  new DataView(bytes.buffer).setInt32(1, 4 + body.length);
  bytes.set(body, 5);
  return bytes;
}

/** Sync: ends an extended-protocol sequence (and, after an error in one, the skipping of its rest). */
export const SYNC_MESSAGE = message("S", new Uint8Array());
/** A simple query that resets every session setting, statement, temporary table, lock and LISTEN. */
export const DISCARD_ALL_MESSAGE = message("Q", new TextEncoder().encode("discard all\0"));
/** A simple query that ends whatever transaction is open; a warning, not an error, when none is. */
export const ROLLBACK_MESSAGE = message("Q", new TextEncoder().encode("rollback\0"));
