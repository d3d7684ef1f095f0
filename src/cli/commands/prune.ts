import { Command } from "commander";
import { proofKeys } from "../../services/proof-keys.js";
import { parseRetentionAge, type PruneReport, pruneFinishedRuns } from "../../services/retention.js";
import { type CliContext, type CommonFlags, withDatabase } from "../context.js";
import { printJson } from "../output.js";

export function pruneCommand(ctx: CliContext): Command {
  return new Command("prune")
    .description(
      "remove the step payloads (params, outcome, error) of runs that finished long ago; hashes and signed checkpoints stay, so their proofs still verify",
    )
    .requiredOption("--older-than <age>", "prune runs that finished more than this long ago: days, hours or minutes, e.g. 30d, 12h, 90m")
    .option("--tenant-id <id>", "only this tenant's runs (without it, every tenant's: an operator's command)")
    .option("--dry-run", "count what would be pruned and change nothing")
    .option("--json", "print the result as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CommonFlags & { olderThan: string; tenantId?: string; dryRun?: boolean }) => {
      // Parsed before the database is opened, so a bad age changes nothing and exits 2.
      const olderThan = parseRetentionAge(flags.olderThan);
      const report = await withDatabase(ctx, (db) =>
        pruneFinishedRuns(db, proofKeys(ctx.config), { olderThan, tenantId: flags.tenantId, dryRun: flags.dryRun === true }),
      );
      if (flags.json) return printJson(ctx.output, report);
      for (const line of pruneLines(report)) ctx.output.out(line);
    });
}

function pruneLines(report: PruneReport): string[] {
  return [...stepLines(report), ...refusedLines(report), expiredLine(report)];
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
