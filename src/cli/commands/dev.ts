import { Command } from "commander";
import type { CliContext } from "../context.js";
import { devApiKey } from "../dev-api-key.js";
import { paint } from "../output.js";
import { type ServeFlags, serveOptions, serveUntilStopped } from "../serve-process.js";

interface DevFlags extends ServeFlags {
  tenantId: string;
}

/**
 * `aos dev`: the local way to work, as `temporal server start-dev` and `inngest dev` are for their users. One
 * long-lived process on the embedded database (or DATABASE_URL's server, when set) with the API and a worker,
 * that prints where to reach it, the API key to use and where the data lives. Other `aos` commands in other shells
 * keep working beside it on the same database. Ctrl-C stops it as `aos serve` stops.
 */
export function devCommand(ctx: CliContext): Command {
  return new Command("dev")
    .description("work locally: the API and a worker on the embedded database in one process, with an API key ready to use")
    .option("-p, --port <n>", "the port (0: any free port)", "8000")
    .option("--host <address>", "the address to listen on", "127.0.0.1")
    .option("--tenant-id <id>", "the tenant the printed API key acts for", "demo")
    .option("-c, --concurrency <n>", "runs the worker executes at once", "4")
    .option("-q, --quiet", "no log lines on stderr")
    .action(async (flags: DevFlags) => {
      const options = serveOptions(flags, true);
      await serveUntilStopped(ctx, options, async ({ address, workerId, db }) => {
        const apiKey = await devApiKey(db, ctx.config.home, flags.tenantId);
        const out = ctx.output;
        const data = db.kind === "pglite" ? `${db.location} (embedded PostgreSQL; other aos commands use it too)` : `PostgreSQL at ${db.location}`;
        out.out(paint(out, "bold", "AOS dev"));
        out.out(`  API      ${address}/api/v1   (docs: ${address}/docs)`);
        out.out(`  API key  ${apiKey.key}   (tenant ${apiKey.tenantId}; ${apiKey.created ? "new, " : ""}kept in ${apiKey.path})`);
        out.out(`  data     ${data}`);
        out.out(`  worker   ${workerId} x${options.workerConcurrency}`);
        out.out("");
        out.out(`  try:     curl -H "Authorization: Bearer ${apiKey.key}" ${address}/api/v1/runs`);
        out.out(`           aos list-runs --tenant-id ${apiKey.tenantId}   (in another shell)`);
        out.out("  Ctrl-C stops it.");
      });
    });
}
