import { Command } from "commander";
import { getRunDetail, listTenantRuns } from "../../services/runs.js";
import { type CliContext, type CommonFlags, parseWholeNumber, withDatabase } from "../context.js";
import { printJson, table } from "../output.js";
import { runJson, runListJson } from "../../views/run.js";
import { printRunSummary, runListRow } from "../present-run.js";

export function getRunCommand(ctx: CliContext): Command {
  return new Command("get-run")
    .description("show a run with its steps")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .option("--json", "print the run as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: CommonFlags & { tenantId: string }) => {
      const detail = await withDatabase(ctx, (db) => getRunDetail(db, ctx.config, flags.tenantId, runId));
      if (flags.json) return printJson(ctx.output, runJson(detail));
      printRunSummary(ctx.output, detail);
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
