import { readFileSync } from "node:fs";
import { Command } from "commander";
import { AppError } from "../../errors.js";
import { parseBundle } from "../../trace/bundle.js";
import { verifyTlogProof } from "../../trace/tlog-proof.js";
import { verifyTrace } from "../../trace/verify-trace.js";
import type { CliContext, CommonFlags } from "../context.js";
import { paint, printJson } from "../output.js";
import { printProof, type ProofSummary } from "../present-proof.js";
import { trustedKeys, UNPINNED_WARNING } from "../trusted-keys.js";

export const collectKeys = (value: string, previous: string[]) => [...previous, value];

export function readInputFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new AppError("USAGE", `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`);
  }
}

/** Verifies a bundle; touches no database and creates nothing, so it runs anywhere the bundle is copied to. */
export function verifyCommand(ctx: CliContext): Command {
  return new Command("verify")
    .description("verify a proof bundle offline, with no database; exit 0 only when VERIFIED")
    .argument("<bundle>", "a file written by `aos export-proof`")
    .option("--key <vkey>", "a trusted verification key, or a file of them (repeatable)", collectKeys, [] as string[])
    .option("--json", "print the result as JSON")
    .action((file: string, flags: CommonFlags & { key: string[] }) => {
      const parsed = parseBundle(readInputFile(file));
      let summary: ProofSummary;
      let keySource = "none";
      if (!parsed.ok) {
        summary = {
          run_id: "(unreadable)",
          verification_status: "TAMPERED",
          chain_length: 0,
          step_count: 0,
          failure_reason: parsed.reason,
          first_bad_seq: parsed.firstBadSeq,
          pruned_steps: 0,
          merkle_root: null,
          root_hash: null,
          signature_valid: null,
          signed_by: [],
        };
      } else {
        const keys = trustedKeys(ctx.config, flags.key, parsed.bundle.verification_keys);
        keySource = keys.source;
        const verdict = verifyTrace(parsed.evidence, keys.verifiers);
        summary = {
          run_id: parsed.bundle.run.run_id,
          verification_status: parsed.evidence.steps.length === 0 ? "UNSUPPORTED" : verdict.status,
          chain_length: verdict.chainLength,
          step_count: parsed.evidence.steps.length,
          failure_reason: parsed.evidence.steps.length === 0 ? "No steps to verify" : verdict.failureReason,
          first_bad_seq: verdict.firstBadSeq,
          pruned_steps: verdict.prunedSteps,
          merkle_root: verdict.merkleRoot,
          root_hash: verdict.rootHash,
          signature_valid: verdict.signatureValid,
          signed_by: verdict.signedBy,
        };
      }
      if (flags.json) printJson(ctx.output, { ...summary, key_source: keySource });
      else {
        printProof(ctx.output, summary, `bundle ${file} (run ${summary.run_id})`);
        if (keySource === "bundle") ctx.output.err(UNPINNED_WARNING);
      }
      ctx.exitCode = summary.verification_status === "VERIFIED" ? 0 : 1;
    });
}

/** Verifies one step's tlog-proof against a trusted key; no database. */
export function verifyStepCommand(ctx: CliContext): Command {
  return new Command("verify-step")
    .description("verify a step proof written by `aos prove-step`, offline; exit 0 only when it verifies")
    .argument("<file>", "a .tlog-proof file")
    .option("--key <vkey>", "a trusted verification key, or a file of them (repeatable)", collectKeys, [] as string[])
    .option("--json", "print the result as JSON")
    .action((file: string, flags: CommonFlags & { key: string[] }) => {
      const keys = trustedKeys(ctx.config, flags.key, []);
      if (keys.verifiers.length === 0) throw new AppError("USAGE", "no trusted key: pass --key <vkey> (from `aos keys` where the run was signed)");
      const result = verifyTlogProof(readInputFile(file), keys.verifiers);
      if (!result.ok) {
        if (flags.json) printJson(ctx.output, { verified: false, code: result.code, reason: result.reason });
        else ctx.output.out(`Step proof ${file}: ${paint(ctx.output, "red", "NOT VERIFIED")}\n  ${result.reason}`);
        ctx.exitCode = 1;
        return;
      }
      const step = JSON.parse(result.extra.toString("utf8")) as { seq: number; step_id: string; skill: string; status: string };
      const summary = { verified: true, seq: result.index, tree_size: result.treeSize, origin: result.checkpoint.origin, step, signed_by: result.verifiedBy };
      if (flags.json) return printJson(ctx.output, summary);
      ctx.output.out(`Step proof ${file}: ${paint(ctx.output, "green", "VERIFIED")}`);
      ctx.output.out(`  step seq ${result.index} of ${result.treeSize} in ${result.checkpoint.origin}: ${step.step_id} ${step.skill} ${step.status}`);
      ctx.output.out(`  signed by ${result.verifiedBy.join(", ")}`);
    });
}
