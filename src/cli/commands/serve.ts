import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Command } from "commander";
import { migrate } from "../../db/migrate.js";
import { openDatabase } from "../../db/open-database.js";
import { AppError } from "../../errors.js";
import { createLogger } from "../../logger.js";
import { loadKeyRing } from "../../trace/key-store.js";
import { runWorker } from "../../worker/loop.js";
import { type CliContext, parseWholeNumber } from "../context.js";

interface ServeFlags {
  port: string;
  host: string;
  worker: boolean;
  concurrency: string;
  quiet?: boolean;
}

/**
 * `aos serve`: the HTTP API, and by default a worker in the same process so runs posted to it execute. When it
 * owns the embedded database, PGlite runs in a worker thread here, so a long query never freezes requests; other
 * `aos` processes reach the database through it (src/db/shared-session.ts). SIGTERM or SIGINT stops accepting requests, lets the worker hand its runs back,
 * and exits 0.
 */
export function serveCommand(ctx: CliContext): Command {
  return new Command("serve")
    .description("serve the HTTP API (/api/v1, docs at /docs), with a worker executing the runs unless --no-worker")
    .option("-p, --port <n>", "the port (0: any free port)", "8000")
    .option("--host <address>", "the address to listen on", "127.0.0.1")
    .option("--no-worker", "serve only; run `aos worker` processes beside it")
    .option("-c, --concurrency <n>", "runs the in-process worker executes at once", "4")
    .option("-q, --quiet", "no log lines on stderr")
    .action(async (flags: ServeFlags) => {
      const port = parseWholeNumber("--port", flags.port) ?? 8000;
      if (port > 65_535) throw new AppError("USAGE", `--port must be at most 65535, got ${port}`);
      const concurrency = parseWholeNumber("--concurrency", flags.concurrency) ?? 4;
      if (concurrency < 1) throw new AppError("USAGE", `--concurrency must be at least 1, got ${concurrency}`);
      // Loaded here, not at the top: every other verb would otherwise pay for Fastify and the API at start-up.
      const [{ ApiMetrics }, { buildApi }] = await Promise.all([import("../../api/metrics.js"), import("../../api/server.js")]);
      const log = createLogger(flags.quiet !== true, { component: "serve" });
      const db = await openDatabase(ctx.config, { embeddedThread: true, onWait: (message) => ctx.output.err(message) });
      const stop = new AbortController();
      try {
        await migrate(db);
        const keys = loadKeyRing(ctx.config);
        const metrics = new ApiMetrics(db);
        const app = buildApi({ db, config: ctx.config, log, keys, metrics });
        const workerId = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
        const worker = flags.worker
          ? runWorker(
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
            )
          : undefined;
        const address = await app.listen({ port, host: flags.host });
        ctx.output.out(`AOS API listening on ${address} (docs: ${address}/docs)${worker === undefined ? "" : `, worker ${workerId} x${concurrency}`}`);
        await new Promise<void>((resolve) => {
          process.once("SIGTERM", () => resolve());
          process.once("SIGINT", () => resolve());
        });
        ctx.output.err("stopping: no new requests; the worker hands its runs back");
        await app.close();
        stop.abort();
        await worker;
      } finally {
        stop.abort();
        await db.close();
      }
    });
}
