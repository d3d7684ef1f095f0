import { type PGlite, protocol } from "@electric-sql/pglite";
import { createPgConfig } from "@electric-sql/pglite/node-postgres";
import pg from "pg";
import { awaitsSync } from "./protocol-position.js";

type BackendMessage = Awaited<ReturnType<PGlite["execProtocolStream"]>>[number];

/**
 * One pg client's way into the embedded database: raw protocol bytes in, PGlite's raw reply out. A caller of
 * the session arbiter in the process that owns PGlite (src/db/session-arbiter.ts), or a connection to that
 * process from another (src/db/shared-session.ts). Closed when its client ends, so whatever the client left
 * open is ended for it.
 */
export interface SessionChannel {
  exec(request: Uint8Array): Promise<Uint8Array>;
  close(): void;
}

/**
 * A pg.Pool over the embedded database, each client on a channel of its own. Two adapter gotchas
 * (reference/dependencies.md §1): every client needs its own adapter connection, or one query error ends the
 * shared connection for all; and PGlite's serializer chokes on pg's per-query `types` object. PGlite is one
 * session, so the pool holds one client.
 *
 * The adapter sends each protocol message through `execProtocolStream(bytes, { throwOnError: false })`; here that
 * is the channel's raw reply parsed with PGlite's own parser, so an ErrorResponse reaches pg as an error.
 */
export function pglitePool(openChannel: () => SessionChannel): pg.Pool {
  class PgliteClient extends pg.Client {
    readonly #channel: SessionChannel;

    constructor(config?: pg.ClientConfig) {
      const channel = openChannel();
      const parser = new protocol.Parser();
      const held: Uint8Array[] = [];
      const session = {
        waitReady: Promise.resolve(),
        async execProtocolStream(request: Uint8Array): Promise<BackendMessage[]> {
          // Parse, Bind, Describe, Execute wait for their Sync and go with it, as over a real socket: one round
          // trip per statement instead of five. pg reads the replies as one stream, whichever call brings them.
          if (awaitsSync(request)) {
            held.push(Uint8Array.from(request));
            return [];
          }
          const messages: BackendMessage[] = [];
          parser.parse(await channel.exec(Buffer.concat([...held.splice(0), request])), (message) => messages.push(message));
          return messages;
        },
      };
      // createPgConfig duck-types its argument on `execProtocolStream`, so a session that is not a PGlite will do.
      super({ ...config, ...(createPgConfig(session as unknown as PGlite) as unknown as pg.ClientConfig) });
      this.#channel = channel;
      const connection = (this as unknown as { connection: { parse: (query: { types?: unknown }) => unknown } })
        .connection;
      const parse = connection.parse.bind(connection);
      connection.parse = (query) => parse(Array.isArray(query.types) ? query : { ...query, types: undefined });
    }

    override end(): Promise<void>;
    override end(callback: (error: Error) => void): void;
    override end(callback?: (error: Error) => void): Promise<void> | void {
      this.#channel.close();
      return callback === undefined ? super.end() : super.end(callback);
    }
  }
  return new pg.Pool({ Client: PgliteClient, max: 1 });
}
