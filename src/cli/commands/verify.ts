import { readFileSync } from "node:fs";
import { Command } from "commander";
import { AppError } from "../../errors.js";
import { verifyTlogProof } from "../../trace/tlog-proof.js";
import { verifyBundleText } from "../../trace/verify-bundle.js";
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
      let keySource = "none";
      const summary: ProofSummary = verifyBundleText(readInputFile(file), (bundleKeys) => {
        const keys = trustedKeys(ctx.config, flags.key, bundleKeys);
        keySource = keys.source;
        return keys.verifiers;
      });
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
