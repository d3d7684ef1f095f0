import { Command } from "commander";
import type { CliContext } from "../context.js";
import { type ServeFlags, serveOptions, serveUntilStopped } from "../serve-process.js";

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
    .action(async (flags: ServeFlags & { worker: boolean }) => {
      const options = serveOptions(flags, flags.worker);
      await serveUntilStopped(ctx, options, async ({ address, workerId }) => {
        ctx.output.out(`AOS API listening on ${address} (docs: ${address}/docs)${workerId === undefined ? "" : `, worker ${workerId} x${options.workerConcurrency}`}`);
      });
    });
}
