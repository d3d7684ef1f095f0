import pg from "pg";
import { listenForQueuedRuns } from "../db/queries/run-queue.js";
import type { Logger } from "../logger.js";

/**
 * What an idle worker waits on: a NOTIFY that a run was queued (on its own direct connection, when LISTEN is on),
 * a poke from inside the process (a slot came free, a stop was asked for), or the poll interval, whichever comes
 * first. Polling alone is enough for correctness; LISTEN only makes a queued run start sooner. A lost LISTEN
 * connection is re-opened in the background while polling goes on.
 */
export class Wakeup {
  private readonly waiters = new Set<() => void>();
  private pending = false;
  private client: pg.Client | undefined;
  private closed = false;

  constructor(
    private readonly pollMs: number,
    private readonly log: Logger,
  ) {}

  /** Starts listening on `databaseUrl`; without one (the embedded database) the worker polls. */
  listen(databaseUrl: string | undefined): void {
    if (databaseUrl !== undefined) void this.connect(databaseUrl, 0);
  }

  private async connect(databaseUrl: string, failures: number): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: databaseUrl });
    const retry = () => {
      if (this.client === client) this.client = undefined;
      client.removeAllListeners();
      client.on("error", () => {});
      void client.end().catch(() => {});
      if (!this.closed) setTimeout(() => void this.connect(databaseUrl, failures + 1), Math.min(100 * 2 ** failures, 5000)).unref();
    };
    let connected = false;
    client.on("error", (error) => {
      this.log.warn("LISTEN connection lost; polling until it is back", { error: error.message });
      // A connection that worked starts the backoff over; one that never came up lengthens it.
      if (connected) failures = -1;
      retry();
    });
    client.on("notification", () => this.poke());
    try {
      await client.connect();
      await listenForQueuedRuns(client);
      if (this.closed) {
        await client.end();
        return;
      }
      this.client = client;
      connected = true;
      // Runs queued while the connection was down are found by the next poll; poke so that is now.
      this.poke();
    } catch (error) {
      this.log.warn("cannot LISTEN for queued runs; polling", { error: (error as Error).message });
      retry();
    }
  }

  /** Wakes every waiting slot now; with none waiting, the next wait returns at once. */
  poke(): void {
    if (this.waiters.size === 0) {
      this.pending = true;
      return;
    }
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves on a notification or poke, or after the poll interval. */
  wait(): Promise<void> {
    if (this.pending || this.closed) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, this.pollMs);
      this.waiters.add(wake);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.poke();
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      client.removeAllListeners();
      client.on("error", () => {});
      await client.end().catch(() => {});
    }
  }
}
