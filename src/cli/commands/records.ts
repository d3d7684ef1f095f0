import { Command } from "commander";
import { findEvidence, listIncidents } from "../../db/queries/run-records.js";
import { AppError } from "../../errors.js";
import { requireTenant } from "../../services/agents.js";
import { getRunProof } from "../../services/proofs.js";
import { getRun } from "../../services/runs.js";
import { type CliContext, type CommonFlags, parseWholeNumber, withDatabase } from "../context.js";
import { evidenceJson, incidentJson } from "../../views/records.js";
import { printJson, table } from "../output.js";

export function incidentsCommand(ctx: CliContext): Command {
  return new Command("incidents")
    .description("list a tenant's incidents, newest first: one per finished run (SUCCESS, FAILURE, BLOCKED, ABORTED)")
    .requiredOption("--tenant-id <id>", "the tenant")
    .option("--run-id <id>", "only this run's incident")
    .option("--limit <n>", "at most this many", "50")
    .option("--json", "print as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CommonFlags & { tenantId: string; runId?: string; limit: string }) => {
      const limit = parseWholeNumber("--limit", flags.limit) ?? 50;
      const incidents = await withDatabase(ctx, (db) => listIncidents(db.pool, requireTenant(flags.tenantId), limit, flags.runId));
      if (flags.json) return printJson(ctx.output, incidents.map(incidentJson));
      if (incidents.length === 0) return ctx.output.out(`No incidents for tenant ${flags.tenantId}.`);
      const rows = incidents.map((incident) => [incident.id, incident.outcome, incident.severity, incident.category, incident.runId]);
      for (const line of table([["INCIDENT", "OUTCOME", "SEVERITY", "CATEGORY", "RUN"], ...rows])) ctx.output.out(line);
    });
}

export function evidenceCommand(ctx: CliContext): Command {
  return new Command("evidence")
    .description("show a run's integrity evidence and its policy-evaluation records")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .option("--json", "print as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: CommonFlags & { tenantId: string }) => {
      // The evidence row is written when the run ends and is not itself proven (docs/proofs.md): the run's proof now
      // is shown beside it, so a VALID record never stands alone next to a trace that no longer verifies.
      const { evidence, proof } = await withDatabase(ctx, async (db) => {
        const run = await getRun(db, flags.tenantId, runId);
        return { evidence: await findEvidence(db.pool, run.tenantId, runId), proof: await getRunProof(db, ctx.config, run.tenantId, runId) };
      });
      if (evidence === undefined) throw new AppError("RUN_NOT_FOUND", `No evidence for run ${runId}: it has not finished`, { details: { run_id: runId } });
      if (flags.json) return printJson(ctx.output, { ...evidenceJson(evidence), proof: { verification_status: proof.verification_status, failure_reason: proof.failure_reason } });
      ctx.output.out(`Evidence for run ${runId}: ${evidence.status} (score ${evidence.score.toFixed(2)}), recorded when it ended`);
      ctx.output.out(`  proof now: ${proof.verification_status}${proof.failure_reason === null ? "" : ` (${proof.failure_reason})`}`);
      ctx.output.out(`  observed: ${evidence.observed.join(", ")}`);
      for (const artifact of evidence.missing) ctx.output.out(`  missing:  ${artifact} (${evidence.missingReasons[artifact] ?? "unknown"})`);
      for (const record of evidence.policyRecords) {
        const at = record.stepSeq === null ? "" : ` at seq ${record.stepSeq}`;
        ctx.output.out(`  policy:   ${record.kind} ${record.policyId} ${record.outcome}${at}${record.reason ? `: ${record.reason}` : ""}`);
      }
    });
}
