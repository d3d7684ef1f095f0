import { Command } from "commander";
import { AppError } from "../../errors.js";
import { proofKeys } from "../../services/proof-keys.js";
import { parseRetentionAge, type PruneReport, pruneFinishedRuns } from "../../services/retention.js";
import { type CliContext, type CommonFlags, withDatabase } from "../context.js";
import { printJson } from "../output.js";

export function pruneCommand(ctx: CliContext): Command {
  return new Command("prune")
    .description(
      "remove the step payloads (params, outcome, error) of runs that finished long ago; hashes and signed checkpoints stay, so their proofs still verify",
    )
    .requiredOption("--older-than <age>", "prune runs that finished more than this long ago: 30d, 12h, 90min, 45s or 2w (not m: minutes or months?)")
    .option("--tenant-id <id>", "only this tenant's runs (without it, every tenant's: an operator's command, confirmed)")
    .option("--dry-run", "count what would be pruned and change nothing")
    .option("-y, --yes", "prune every tenant's runs without asking (needed without --tenant-id when no one is at a terminal)")
    .option("--json", "print the result as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: PruneFlags) => {
      // Parsed before the database is opened, so a bad age changes nothing and exits 2.
      const olderThan = parseRetentionAge(flags.olderThan);
      const everyTenant = flags.tenantId === undefined && flags.dryRun !== true && flags.yes !== true;
      if (everyTenant && ctx.output.confirm === undefined) throw unconfirmed(olderThan.text);
      const report = await withDatabase(ctx, async (db) => {
        const prune = (dryRun: boolean) => pruneFinishedRuns(db, proofKeys(ctx.config), { olderThan, tenantId: flags.tenantId, dryRun });
        if (!everyTenant) return prune(flags.dryRun === true);
        return (await confirmed(ctx, await prune(true))) ? prune(false) : undefined;
      });
      if (report === undefined) return ctx.output.err("Nothing was pruned.");
      if (flags.json) return printJson(ctx.output, report);
      for (const line of pruneLines(report)) ctx.output.out(line);
    });
}

interface PruneFlags extends CommonFlags {
  olderThan: string;
  tenantId?: string;
  dryRun?: boolean;
  yes?: boolean;
}

function unconfirmed(age: string): AppError {
  return new AppError(
    "USAGE",
    `without --tenant-id, prune removes payloads of every tenant's runs older than ${age}; confirm with --yes, name one tenant with --tenant-id, or see what it would remove with --dry-run`,
  );
}

/** Shows a person at the terminal what pruning every tenant would remove (a dry run), and asks. */
async function confirmed(ctx: CliContext, preview: PruneReport): Promise<boolean> {
  for (const line of pruneLines(preview, { asking: true })) ctx.output.err(line);
  return (ctx.output.confirm as (question: string) => Promise<boolean>)("Prune these, across every tenant?");
}

/** What a prune did, or (a dry run, or `asking` before pruning every tenant) would do. */
function pruneLines(report: PruneReport, options = { asking: false }): string[] {
  const steps = stepLines(report);
  return [...(options.asking ? steps.slice(0, 1) : steps), ...refusedLines(report), expiredLine(report)];
}

/** Runs left whole: pruning a run whose proof fails would erase the evidence of what was changed. */
function refusedLines(report: PruneReport): string[] {
  if (report.refused.length === 0) return [];
  const count = `${report.refused.length} run${report.refused.length === 1 ? "" : "s"}`;
  return [
    `Left whole ${count} whose proof is not VERIFIED (${report.dry_run ? "would be refused" : "refused"}; see \`aos proof\`):`,
    ...report.refused.map((run) => `  ${run.run_id} (tenant ${run.tenant_id}): ${run.verification_status}${run.failure_reason === null ? "" : `: ${run.failure_reason}`}`),
  ];
}

function stepLines(report: PruneReport): string[] {
  const scope = `${report.tenant_id === null ? "every tenant's runs" : `tenant ${report.tenant_id}'s runs`} that finished before ${report.finished_before} (--older-than ${report.older_than})`;
  if (report.steps === 0) return [`Nothing to prune: no step of ${scope} still holds its payload.`];
  const counts = `${report.steps} step${report.steps === 1 ? "" : "s"} of ${report.runs} run${report.runs === 1 ? "" : "s"}`;
  if (report.dry_run) return [`Would prune ${counts}: ${scope}.`, "  nothing was changed (--dry-run)"];
  return [
    `Pruned ${counts}: ${scope}.`,
    "  each verified first; removed: params, outcome data and errors; kept: every step header and hash, the run-end",
    "  and the signed checkpoint, so `aos proof` and `aos verify` still check these runs and report the pruned steps",
  ];
}

function expiredLine(report: PruneReport): string {
  const { kv_entries: entries, kv_idempotency: records, run_requests: requests } = report.expired;
  const counts = `${entries} kv_store entries, ${records} kv_store idempotency records, ${requests} API idempotency keys (over 24 h)`;
  return `${report.dry_run ? "Would remove" : "Removed"} what had expired: ${counts}.`;
}
