import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Command } from "commander";
import { AppError } from "../../errors.js";
import { createLogger } from "../../logger.js";
import { loadKeyRing } from "../../trace/key-store.js";
import { runWorker } from "../../worker/loop.js";
import { type CliContext, parseWholeNumber, withDatabase } from "../context.js";

interface WorkerFlags {
  concurrency?: string;
  id?: string;
  quiet?: boolean;
}

export function workerCommand(ctx: CliContext): Command {
  return new Command("worker")
    .description(
      "execute queued runs until stopped: claims fairly across tenants, renews leases, requeues runs of dead workers; " +
        "SIGTERM or SIGINT finishes each run's current step, hands the runs back, and exits 0",
    )
    .option("-c, --concurrency <n>", "runs executed at once", "4")
    .option("--id <name>", "this worker's name in leases and logs (default: host-pid-random)")
    .option("-q, --quiet", "no log lines on stderr")
    .action(async (flags: WorkerFlags) => {
      const concurrency = parseWholeNumber("--concurrency", flags.concurrency) ?? 4;
      if (concurrency < 1) throw new AppError("USAGE", `--concurrency must be at least 1, got ${concurrency}`);
      const id = flags.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
      const stop = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        if (stop.signal.aborted) return;
        ctx.output.err(`${signal}: finishing the current steps, then handing the runs back`);
        stop.abort();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      try {
        const log = createLogger(flags.quiet !== true, { worker_id: id });
        const summary = await withDatabase(ctx, (db) =>
          runWorker({ db, config: ctx.config, log, keys: loadKeyRing(ctx.config) }, { id, concurrency, signal: stop.signal }),
        );
        ctx.output.err(
          `worker ${id} stopped: ${summary.finished} run(s) ended, ${summary.released} handed back, ` +
            `${summary.retried} to retry, ${summary.lost} lost to other workers`,
        );
      } finally {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
      }
    });
}
