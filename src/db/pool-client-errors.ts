import type pg from "pg";

/**
 * Keeps a lost connection from killing the process (a worker, and any other long-lived one). pg-pool takes its 'error' listener off a client while the client
 * is checked out (a transaction: a run's finalization, a reaper round), and when the server ends that connection
 * (a restart, pg_terminate_backend) pg emits 'error' on the client after failing its queries. With no listener,
 * Node turns the event into an uncaught exception and the process exits. The failed queries already carry the
 * error to their callers, and the pool discards the broken client on release, so the event needs a listener and
 * nothing more. (Evidence: test/worker-chaos.test.ts, a backend terminated inside a transaction.) Applied to every server pool.
 */
export function listenForClientErrors(pool: pg.Pool): void {
  const listening = new WeakSet<pg.PoolClient>();
  pool.on("acquire", (client) => {
    if (listening.has(client)) return;
    listening.add(client);
    client.on("error", () => undefined);
  });
}
