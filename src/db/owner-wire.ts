import type { Socket } from "node:net";

/**
 * The frames between the embedded database's owner and the processes that share it (src/db/owner-socket.ts,
 * src/db/remote-session.ts), over a Unix socket:
 *
 *   uint32 length of what follows | uint8 kind | uint32 request id | payload
 *
 * A remote's first frame is HELLO with the owner's token as payload; the owner answers WELCOME or closes the
 * connection. Then each EXEC carries wire-protocol bytes from the remote's pg client, and is answered, under its
 * id, by RESULT (PGlite's raw reply bytes), FAILED (PGlite itself failed; UTF-8 text) or NOT_EXECUTED (the owner
 * is closing and never ran it; UTF-8 text). An owner that closes sends CLOSING: the remote sends nothing more on
 * that connection and closes it once its requests are answered, so every request it sent is either answered or
 * known not to have run; only a killed owner leaves a request unanswered. Bytes, not parsed messages, cross, for the reason pglite-thread.ts
 * gives: the receiving end parses them with PGlite's own parser, so an ErrorResponse stays an error.
 */

export const FRAME = {
  HELLO: 1,
  WELCOME: 2,
  EXEC: 3,
  RESULT: 4,
  FAILED: 5,
  NOT_EXECUTED: 6,
  CLOSING: 7,
} as const;

export interface Frame {
  kind: number;
  id: number;
  payload: Uint8Array;
}

const HEADER_BYTES = 9;
/** Far above any reply AOS reads (a run's events, a proof); a longer length means the peer is not speaking this. */
const MAX_FRAME_BYTES = 512 * 1024 * 1024;

export function sendFrame(socket: Socket, kind: number, id: number, payload: Uint8Array = new Uint8Array()): void {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(payload.length + 5, 0);
  header.writeUInt8(kind, 4);
  header.writeUInt32BE(id, 5);
  socket.write(Buffer.concat([header, payload]));
}

/**
 * Calls `onFrame` for each whole frame the socket delivers; destroys the socket on a malformed length, or one above
 * `maxBytes()` (asked before each frame: a peer that has not said HELLO yet may send only a HELLO's few bytes).
 */
export function readFrames(socket: Socket, onFrame: (frame: Frame) => void, maxBytes: () => number = () => MAX_FRAME_BYTES): void {
  let buffered: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const length = buffered.readUInt32BE(0);
      if (length < 5 || length > Math.min(maxBytes(), MAX_FRAME_BYTES)) {
        socket.destroy();
        return;
      }
      if (buffered.length < 4 + length) return;
      const kind = buffered.readUInt8(4);
      const id = buffered.readUInt32BE(5);
      // A copy: the payload outlives `buffered`, which the next chunk replaces.
      const payload = new Uint8Array(buffered.subarray(HEADER_BYTES, 4 + length));
      buffered = buffered.subarray(4 + length);
      onFrame({ kind, id, payload });
    }
  });
}
