import { Command } from "commander";
import { getRunDetail, listTenantRuns } from "../../services/runs.js";
import { type CliContext, type CommonFlags, parseWholeNumber, withDatabase } from "../context.js";
import { printJson, table } from "../output.js";
import { runJson, runListJson } from "../../views/run.js";
import { printRunSummary, runListRow } from "../present-run.js";
import { followRun } from "../../services/run-events.js";
import { runEventJson } from "../../views/run-events.js";
import { EXIT, runExitCode } from "../exit-codes.js";
import { withWatchInterrupt } from "../interrupt.js";
import { FOLLOW_POLL_MS, printRunProgress } from "../run-progress.js";

interface GetRunFlags extends CommonFlags {
  tenantId: string;
  watch?: boolean;
}

export function getRunCommand(ctx: CliContext): Command {
  return new Command("get-run")
    .description("show a run with its steps; --watch follows it until it ends")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .option("-w, --watch", "follow the run until it ends, whoever executes it: each step as it starts and ends, then the run (Ctrl-C stops watching)")
    .option("--json", "print the run as JSON (with --watch: each event as one line of JSON)")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: GetRunFlags) => {
      if (flags.watch) return watchRun(ctx, runId, flags);
      const detail = await withDatabase(ctx, (db) => getRunDetail(db, ctx.config, flags.tenantId, runId));
      if (flags.json) return printJson(ctx.output, runJson(detail));
      printRunSummary(ctx.output, detail);
    });
}

/**
 * Follows a run from the database until it ends (a parked run is followed through its approval), printing what the
 * run's events say; then, for people, the run's summary. Exits as `aos run` does for the run's ending; 130 when
 * Ctrl-C stopped the watching (the run goes on).
 */
async function watchRun(ctx: CliContext, runId: string, flags: GetRunFlags): Promise<void> {
  await withDatabase(ctx, async (db) => {
    const run = { tenantId: flags.tenantId, id: runId };
    const { interrupted } = await withWatchInterrupt(async (stop) => {
      if (!flags.json) return printRunProgress(ctx.output, db.pool, run, { header: true, stop });
      const events = await followRun(db.pool, run.tenantId, run.id, { pollMs: FOLLOW_POLL_MS, stop });
      for await (const event of events) ctx.output.out(JSON.stringify(runEventJson(runId, event)));
    });
    if (interrupted) {
      ctx.output.err(`stopped watching run ${runId}; it goes on (aos get-run ${runId} --tenant-id ${flags.tenantId} --watch follows it again)`);
      ctx.exitCode = EXIT.interrupted;
      return;
    }
    const detail = await getRunDetail(db, ctx.config, flags.tenantId, runId);
    if (!flags.json) printRunSummary(ctx.output, detail, { steps: false });
    ctx.exitCode = runExitCode(detail.run.status);
  });
}

export function listRunsCommand(ctx: CliContext): Command {
  return new Command("list-runs")
    .description("list a tenant's runs, newest first")
    .requiredOption("--tenant-id <id>", "the tenant")
    .option("--status <status>", "only runs with this status")
    .option("--limit <n>", "at most this many runs", "50")
    .option("--json", "print the runs as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CommonFlags & { tenantId: string; status?: string; limit: string }) => {
      const limit = parseWholeNumber("--limit", flags.limit) ?? 50;
      const runs = await withDatabase(ctx, (db) => listTenantRuns(db, flags.tenantId, flags.status, limit));
      if (flags.json) {
        return printJson(ctx.output, runs.map(runListJson));
      }
      if (runs.length === 0) return ctx.output.out(`No runs for tenant ${flags.tenantId}.`);
      for (const line of table([["RUN", "STATUS", "CREATED", "GOAL"], ...runs.map(runListRow)])) ctx.output.out(line);
    });
}
