import type { PGlite } from "@electric-sql/pglite";
import { createPgConfig } from "@electric-sql/pglite/node-postgres";
import pg from "pg";

/**
 * All that PGlite's node-postgres adapter uses of a PGlite instance: it awaits `waitReady` and sends each
 * protocol message through `execProtocolStream(bytes, { throwOnError: false })`. An in-process PGlite is one;
 * the proxy to a PGlite on its own thread (src/db/pglite-thread.ts) is another.
 */
export type PgliteSession = Pick<PGlite, "waitReady" | "execProtocolStream">;

/**
 * A pg.Pool over one PGlite session. Two adapter gotchas (reference/dependencies.md §1): every client needs
 * its own adapter connection, or one query error ends the shared connection for all; and PGlite's serializer
 * chokes on pg's per-query `types` object. PGlite is one session, so the pool holds one client.
 */
export function pglitePool(session: PgliteSession): pg.Pool {
  // createPgConfig duck-types its argument on `execProtocolStream`, so a session that is not a PGlite will do.
  const pglite = session as PGlite;
  class PgliteClient extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super({ ...config, ...(createPgConfig(pglite) as unknown as pg.ClientConfig) });
      const connection = (this as unknown as { connection: { parse: (query: { types?: unknown }) => unknown } })
        .connection;
      const parse = connection.parse.bind(connection);
      connection.parse = (query) => parse(Array.isArray(query.types) ? query : { ...query, types: undefined });
    }
  }
  return new pg.Pool({ Client: PgliteClient, max: 1 });
}
