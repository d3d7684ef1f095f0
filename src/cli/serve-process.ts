import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Database } from "../db/database.js";
import { migrate } from "../db/migrate.js";
import { openDatabase } from "../db/open-database.js";
import { createLogger } from "../logger.js";
import { loadKeyRing } from "../trace/key-store.js";
import { runWorker } from "../worker/loop.js";
import { AppError } from "../errors.js";
import { type CliContext, parseWholeNumber } from "./context.js";

/** How a long-lived serving process (`aos serve`, `aos dev`) is set up. */
export interface ServeOptions {
  port: number;
  host: string;
  /** Runs executed at once by the in-process worker; undefined: no worker in this process. */
  workerConcurrency: number | undefined;
  quiet: boolean;
}

/** The flags `aos serve` and `aos dev` share, as given. */
export interface ServeFlags {
  port: string;
  host: string;
  concurrency: string;
  quiet?: boolean;
}

/** Checks the shared flags; `worker: false` serves without an in-process worker. */
export function serveOptions(flags: ServeFlags, worker: boolean): ServeOptions {
  const port = parseWholeNumber("--port", flags.port) ?? 8000;
  if (port > 65_535) throw new AppError("USAGE", `--port must be at most 65535, got ${port}`);
  const concurrency = parseWholeNumber("--concurrency", flags.concurrency) ?? 4;
  if (concurrency < 1) throw new AppError("USAGE", `--concurrency must be at least 1, got ${concurrency}`);
  return { port, host: flags.host, workerConcurrency: worker ? concurrency : undefined, quiet: flags.quiet === true };
}

/** What a serving process tells the person who started it, once it listens. */
export interface Serving {
  /** The API's base address, e.g. http://127.0.0.1:8000. */
  address: string;
  /** The in-process worker's id, when it has one. */
  workerId: string | undefined;
  db: Database;
}

/**
 * The HTTP API, and a worker in the same process unless asked not to, until SIGTERM or SIGINT: then no new
 * requests, the worker hands its runs back, the database closes, and this returns. PGlite runs on a thread of its
 * own here, so a long query never freezes requests. `announce` runs once the API listens (and, for `aos dev`,
 * prepares what it prints).
 */
export async function serveUntilStopped(ctx: CliContext, options: ServeOptions, announce: (serving: Serving) => Promise<void>): Promise<void> {
  // Loaded here, not at the top: every other verb would otherwise pay for Fastify and the API at start-up.
  const [{ ApiMetrics }, { buildApi }] = await Promise.all([import("../api/metrics.js"), import("../api/server.js")]);
  const log = createLogger(!options.quiet, { component: "serve" });
  const db = await openDatabase(ctx.config, { embeddedThread: true, onWait: (message) => ctx.output.err(message) });
  const stop = new AbortController();
  try {
    await migrate(db);
    const keys = loadKeyRing(ctx.config);
    const metrics = new ApiMetrics(db);
    const app = buildApi({ db, config: ctx.config, log, keys, metrics });
    const workerId = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
    const concurrency = options.workerConcurrency;
    const worker =
      concurrency === undefined
        ? undefined
        : runWorker(
            {
              db,
              config: ctx.config,
              log: log.child({ worker_id: workerId }),
              keys,
              onStep: (step) => metrics.stepDuration.observe({ skill: step.skillName, status: step.status }, step.durationMs / 1000),
            },
            {
              id: workerId,
              concurrency,
              signal: stop.signal,
              onReaped: (requeued, failed) => {
                metrics.leaseExpiries.inc({ outcome: "requeued" }, requeued);
                metrics.leaseExpiries.inc({ outcome: "failed" }, failed);
              },
            },
          );
    const stopped = new Promise<void>((resolve) => {
      process.once("SIGTERM", () => resolve());
      process.once("SIGINT", () => resolve());
    });
    const address = await app.listen({ port: options.port, host: options.host });
    await announce({ address, workerId: worker === undefined ? undefined : workerId, db });
    await stopped;
    ctx.output.err("stopping: no new requests; the worker hands its runs back");
    await app.close();
    stop.abort();
    await worker;
  } finally {
    stop.abort();
    await db.close();
  }
}
