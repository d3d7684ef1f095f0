import { Command } from "commander";
import { AppError } from "../../errors.js";
import { type CliContext, parseWholeNumber } from "../context.js";
import { serveUntilStopped } from "../serve-process.js";

interface ServeFlags {
  port: string;
  host: string;
  worker: boolean;
  concurrency: string;
  quiet?: boolean;
}

/**
 * `aos serve`: the HTTP API, and by default a worker in the same process so runs posted to it execute (on the
 * embedded database nothing else can: PGlite is one process's). PGlite runs in a worker thread here, so a long
 * query never freezes requests. SIGTERM or SIGINT stops accepting requests, lets the worker hand its runs back,
 * and exits 0.
 */
export function serveCommand(ctx: CliContext): Command {
  return new Command("serve")
    .description("serve the HTTP API (/api/v1, docs at /docs), with a worker executing the runs unless --no-worker")
    .option("-p, --port <n>", "the port (0: any free port)", "8000")
    .option("--host <address>", "the address to listen on", "127.0.0.1")
    .option("--no-worker", "serve only; run `aos worker` processes beside it (PostgreSQL server only)")
    .option("-c, --concurrency <n>", "runs the in-process worker executes at once", "4")
    .option("-q, --quiet", "no log lines on stderr")
    .action(async (flags: ServeFlags) => {
      const port = parseWholeNumber("--port", flags.port) ?? 8000;
      if (port > 65_535) throw new AppError("USAGE", `--port must be at most 65535, got ${port}`);
      const concurrency = parseWholeNumber("--concurrency", flags.concurrency) ?? 4;
      if (concurrency < 1) throw new AppError("USAGE", `--concurrency must be at least 1, got ${concurrency}`);
      await serveUntilStopped(ctx, { port, host: flags.host, workerConcurrency: flags.worker ? concurrency : undefined, quiet: flags.quiet === true }, async ({ address, workerId }) => {
        ctx.output.out(`AOS API listening on ${address} (docs: ${address}/docs)${workerId === undefined ? "" : `, worker ${workerId} x${concurrency}`}`);
      });
    });
}
