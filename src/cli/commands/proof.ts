import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { AppError } from "../../errors.js";
import { isTerminal } from "../../glossary.js";
import { evidenceOf, getRunProof, loadProofMaterial } from "../../services/proofs.js";
import { buildBundle } from "../../trace/bundle.js";
import { loadVerifiers } from "../../trace/key-store.js";
import { encodeVerifierKey } from "../../trace/signed-note.js";
import { type CliContext, type CommonFlags, withDatabase } from "../context.js";
import { printJson } from "../output.js";
import { printProof } from "../present-proof.js";

export function proofCommand(ctx: CliContext): Command {
  return new Command("proof")
    .description("verify a run's trace from the stored rows and its signed checkpoint; exit 0 only when VERIFIED")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .option("--json", "print the proof as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: CommonFlags & { tenantId: string }) => {
      const proof = await withDatabase(ctx, (db) => getRunProof(db, ctx.config, flags.tenantId, runId));
      if (flags.json) printJson(ctx.output, proof);
      else printProof(ctx.output, proof);
      ctx.exitCode = proof.verification_status === "VERIFIED" ? 0 : 1;
    });
}

export function exportProofCommand(ctx: CliContext): Command {
  return new Command("export-proof")
    .description("write a run's proof bundle: a JSON file anyone can verify offline with `aos verify`")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .requiredOption("-o, --output <file>", "where to write the bundle, e.g. run.aosproof.json")
    .option("--json", "print a JSON summary instead of a sentence")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: CommonFlags & { tenantId: string; output: string }) => {
      const material = await withDatabase(ctx, (db) => loadProofMaterial(db, flags.tenantId, runId));
      if (material === undefined) throw new AppError("RUN_NOT_FOUND", `No trace found for run ${runId}`);
      const evidence = evidenceOf(material);
      const bundle = buildBundle({
        header: evidence.header,
        runStatus: material.run.status,
        finished: isTerminal(material.run.status),
        traceStatus: material.trace.status,
        storedPlanHash: evidence.storedPlanHash,
        storedRootHash: evidence.storedRootHash,
        storedMerkleRoot: evidence.storedMerkleRoot,
        storedTreeSize: evidence.storedTreeSize,
        steps: material.steps,
        checkpointNote: material.checkpointNote,
        verificationKeys: loadVerifiers(ctx.config).map(encodeVerifierKey),
      });
      writeFileSync(flags.output, `${JSON.stringify(bundle, null, 2)}\n`);
      const summary = { run_id: runId, file: flags.output, steps: bundle.steps.length, finished: bundle.run.finished };
      if (flags.json) return printJson(ctx.output, summary);
      ctx.output.out(`Wrote ${flags.output}: run ${runId}, ${bundle.steps.length} steps${bundle.checkpoint ? ", signed checkpoint" : ""}`);
    });
}
