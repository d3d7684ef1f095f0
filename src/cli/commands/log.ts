import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { auditTenantLog, backfillTenantLog, checkConsistency, type ConsistencyResult, latestCheckpointNote, openKeptCheckpoint, storedConsistencySource } from "../../services/tenant-log.js";
import { AppError } from "../../errors.js";
import { type CliContext, type CommonFlags, withDatabase } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { paint, printable, printJson } from "../output.js";
import { readUtf8File } from "../read-json-file.js";
import { trustedKeys } from "../trusted-keys.js";
import { openTilesDirectory } from "./log-tiles.js";

const collect = (value: string, previous: string[]) => [...previous, value];

/** `aos log`: a tenant's transparency log (docs/proofs.md, "The tenant log"). */
export function logCommand(ctx: CliContext, more: readonly Command[] = []): Command {
  const log = new Command("log").description("a tenant's transparency log of finished runs: its checkpoints, consistency, tiles");
  log.addCommand(checkpointCommand(ctx));
  log.addCommand(consistencyCommand(ctx));
  log.addCommand(backfillCommand(ctx));
  for (const command of more) log.addCommand(command);
  return log;
}

function checkpointCommand(ctx: CliContext): Command {
  return new Command("checkpoint")
    .description("print the tenant log's latest signed checkpoint, with its witnesses' cosignatures; keep it to audit against later")
    .requiredOption("--tenant-id <id>", "the tenant whose log")
    .option("-o, --output <file>", "also write it to this file")
    .option("--json", "print { tenant_id, tree_size, note } as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CommonFlags & { tenantId: string; output?: string }) => {
      const { treeSize, note } = await withDatabase(ctx, (db) => latestCheckpointNote(db, flags.tenantId));
      if (flags.output !== undefined) writeFileSync(flags.output, note);
      if (flags.json) return printJson(ctx.output, { tenant_id: flags.tenantId, tree_size: treeSize, note });
      for (const line of note.trimEnd().split("\n")) ctx.output.out(printable(line));
    });
}

function consistencyCommand(ctx: CliContext): Command {
  return new Command("consistency")
    .description("prove that the log of the NEW checkpoint extends the OLD one (RFC 9162); exit 0 only when it does")
    .argument("<old>", "a tenant checkpoint file kept earlier (`aos log checkpoint -o`)")
    .argument("<new>", "a later tenant checkpoint file")
    .option("--key <vkey>", "the log's trusted verification key, or a file of them (repeatable); default the local key store", collect, [] as string[])
    .option("--tiles <dir>", "take the proof from an `aos log export-tiles` directory at NEW's size or later: no database at all")
    .option("--json", "print the result as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (oldFile: string, newFile: string, flags: CommonFlags & { key: string[]; tiles?: string }) => {
      const { verifiers } = trustedKeys(ctx.config, flags.key);
      const older = openKeptCheckpoint(readUtf8File(oldFile, "the old checkpoint"), verifiers, "the old checkpoint");
      const newer = openKeptCheckpoint(readUtf8File(newFile, "the new checkpoint"), verifiers, "the new checkpoint");
      const result =
        flags.tiles === undefined
          ? await withDatabase(ctx, (db) => checkConsistency(older, newer, storedConsistencySource(db, newer.tenantId)))
          : await checkConsistency(older, newer, exportedConsistencySource(flags.tiles, verifiers, newer.checkpoint.origin));
      printConsistency(ctx, result, flags.json === true);
    });
}

function backfillCommand(ctx: CliContext): Command {
  return new Command("backfill")
    .description("log the tenant's signed runs its log does not hold (those that ended before this database had tenant logs), each verified first")
    .requiredOption("--tenant-id <id>", "the tenant whose runs")
    .option("--json", "print the report as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CommonFlags & { tenantId: string }) => {
      const report = await withDatabase(ctx, (db) => backfillTenantLog(db, ctx.config, flags.tenantId));
      ctx.exitCode = report.refused.length === 0 ? EXIT.ok : EXIT.failure;
      if (flags.json) return printJson(ctx.output, report);
      ctx.output.out(`Logged ${report.queued.length} run(s) of tenant ${printable(report.tenant_id)} that its log did not hold`);
      for (const { run_id: runId, reason } of report.refused) ctx.output.out(`  ${paint(ctx.output, "red", "not logged")} run ${printable(runId)}: ${printable(reason)}`);
    });
}

/**
 * The proof from exported tiles: the directory's own checkpoint must be signed by a trusted key for the same log, and
 * at least as large as NEW (its partial tiles are of its own size); the proof itself is checked against the two
 * signed roots, so the tiles need not be trusted.
 */
function exportedConsistencySource(dir: string, verifiers: Parameters<typeof openTilesDirectory>[1], origin: string) {
  const opened = openTilesDirectory(dir, verifiers, origin);
  if (!opened.ok) throw new AppError("VALIDATION_ERROR", `--tiles ${dir}: ${opened.reason}`);
  return async (oldSize: number, newSize: number): Promise<Buffer[]> => {
    if (newSize > opened.checkpoint.treeSize) {
      throw new AppError("VALIDATION_ERROR", `--tiles ${dir} is an export of ${opened.checkpoint.treeSize} entries, fewer than the new checkpoint's ${newSize}: export again`);
    }
    return opened.source.consistencyProof(oldSize, newSize);
  };
}

export function printConsistency(ctx: CliContext, result: ConsistencyResult, json: boolean): void {
  ctx.exitCode = result.consistent ? EXIT.ok : EXIT.failure;
  if (json) return printJson(ctx.output, result);
  const verdict = result.consistent ? paint(ctx.output, "green", "CONSISTENT") : paint(ctx.output, "red", "NOT CONSISTENT");
  ctx.output.out(`${printable(result.origin)}: ${verdict}, ${result.old_size} → ${result.new_size} entries`);
  if (result.reason !== null) ctx.output.out(`  ${printable(result.reason)}`);
}

/** `aos audit`: the tenant's log replayed against the database. */
export function auditCommand(ctx: CliContext): Command {
  return new Command("audit")
    .description("replay a tenant's log against the database: every run missing, changed or unlogged; exit 0 only when clean")
    .requiredOption("--tenant-id <id>", "the tenant to audit")
    .option("--since <checkpoint_file>", "a tenant checkpoint kept earlier: the log must still extend it")
    .option("--json", "print the report as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CommonFlags & { tenantId: string; since?: string }) => {
      const since = flags.since === undefined ? undefined : readUtf8File(flags.since, "the --since checkpoint");
      const report = await withDatabase(ctx, (db) => auditTenantLog(db, ctx.config, flags.tenantId, since));
      ctx.exitCode = report.problems.length === 0 ? EXIT.ok : EXIT.failure;
      if (flags.json) return printJson(ctx.output, report);
      const verdict = report.problems.length === 0 ? paint(ctx.output, "green", "CLEAN") : paint(ctx.output, "red", `${report.problems.length} PROBLEM(S)`);
      ctx.output.out(`Audit of tenant ${printable(report.tenant_id)}'s log: ${verdict}`);
      ctx.output.out(`  entries:      ${report.tree_size} (${report.runs_checked} runs verified against them), ${report.pending} queued`);
      ctx.output.out(`  checkpoints:  ${report.checkpoints_checked} signed, each held to the entries`);
      if (report.since !== null) ctx.output.out(`  since:        the kept checkpoint of ${report.since.tree_size} entries is ${report.since.consistent ? "extended" : "NOT extended"}`);
      for (const problem of report.problems) {
        const where = "run_id" in problem ? ` run ${printable(problem.run_id)}${"index" in problem ? ` (entry ${problem.index})` : ""}` : "";
        ctx.output.out(`  ${paint(ctx.output, "red", problem.kind)}${where}: ${printable(problem.detail)}`);
      }
    });
}
