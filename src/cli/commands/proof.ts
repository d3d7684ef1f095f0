import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { exportProofBundle, getRunProof, proveStep } from "../../services/proofs.js";
import { getRun } from "../../services/runs.js";
import { type CliContext, type CommonFlags, parseWholeNumber, withDatabase } from "../context.js";
import { printJson } from "../output.js";
import { printProof } from "../present-proof.js";
import { EXIT } from "../exit-codes.js";

export function proofCommand(ctx: CliContext): Command {
  return new Command("proof")
    .description("verify a run's trace from the stored rows and its signed checkpoint; exit 0 only when VERIFIED")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .option("--json", "print the proof as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: CommonFlags & { tenantId: string }) => {
      const proof = await withDatabase(ctx, async (db) => {
        // The service answers UNSUPPORTED for a run it cannot see; a person asking by id hears "Run not found", as
        // from every other verb (and the API's 404).
        await getRun(db, flags.tenantId, runId);
        return getRunProof(db, ctx.config, flags.tenantId, runId);
      });
      if (flags.json) printJson(ctx.output, proof);
      else printProof(ctx.output, proof);
      ctx.exitCode = proof.verification_status === "VERIFIED" ? EXIT.ok : EXIT.failure;
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
      const bundle = await withDatabase(ctx, (db) => exportProofBundle(db, ctx.config, flags.tenantId, runId));
      writeFileSync(flags.output, `${JSON.stringify(bundle, null, 2)}\n`);
      const summary = { run_id: runId, file: flags.output, format: bundle.format, steps: bundle.steps.length, signed: bundle.checkpoint !== null };
      if (flags.json) return printJson(ctx.output, summary);
      ctx.output.out(`Wrote ${flags.output}: run ${runId}, ${bundle.steps.length} steps${bundle.checkpoint ? ", signed checkpoint" : ""}`);
    });
}

export function proveStepCommand(ctx: CliContext): Command {
  return new Command("prove-step")
    .description("write a C2SP tlog-proof that one step is in the run's signed trace, revealing no other step")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .requiredOption("--seq <n>", "the step's seq (its leaf index, from `aos get-run`)")
    .requiredOption("-o, --output <file>", "where to write the proof, e.g. step.tlog-proof")
    .option("--json", "print a JSON summary instead of a sentence")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: CommonFlags & { tenantId: string; seq: string; output: string }) => {
      const seq = parseWholeNumber("--seq", flags.seq) as number;
      const proof = await withDatabase(ctx, (db) => proveStep(db, ctx.config, flags.tenantId, runId, seq));
      writeFileSync(flags.output, proof);
      if (flags.json) return printJson(ctx.output, { run_id: runId, seq, file: flags.output });
      ctx.output.out(`Wrote ${flags.output}: step seq ${seq} of run ${runId}`);
    });
}
