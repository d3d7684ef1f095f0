import { readFileSync } from "node:fs";
import { Command } from "commander";
import { AppError } from "../../errors.js";
import { verifyStepProof } from "../../trace/step-proof.js";
import { parseWitnessVerifierKey, type WitnessVerifier } from "../../trace/cosignature.js";
import { verifyBundleText, type WitnessPolicy } from "../../trace/verify-bundle.js";
import type { CliContext, CommonFlags } from "../context.js";
import { paint, printable, printJson } from "../output.js";
import { printProof } from "../present-proof.js";
import { trustedKeys } from "../trusted-keys.js";
import { EXIT } from "../exit-codes.js";

const collectKeys = (value: string, previous: string[]) => [...previous, value];

/** The file's bytes; a file that cannot be read is a usage error. */
function readInputFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new AppError("USAGE", `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`);
  }
}

/** --witness keys and --witness-threshold as a policy; bad keys or a threshold past the keys are usage errors. */
function witnessPolicy(keys: readonly string[], threshold: string | undefined): WitnessPolicy | undefined {
  if (keys.length === 0) {
    if (threshold !== undefined) throw new AppError("USAGE", "--witness-threshold needs the witnesses it counts: give each with --witness <vkey>");
    return undefined;
  }
  const parsedKeys: WitnessVerifier[] = keys.map((key) => {
    const parsed = parseWitnessVerifierKey(key.trim());
    if (!parsed.ok) throw new AppError("USAGE", `--witness "${key}" is not a witness verifier key (${parsed.reason}); \`aos witness keygen\` prints one`);
    return parsed.key;
  });
  // A witness given twice, or under a second name, is one witness (counted by its public key, as cosignatures sign no
  // name): the threshold counts distinct witnesses.
  const witnesses = [...new Map(parsedKeys.map((witness) => [witness.publicKey.toString("hex"), witness])).values()];
  const k = threshold === undefined ? witnesses.length : /^[1-9][0-9]*$/.test(threshold) ? Number(threshold) : Number.NaN;
  if (!(k >= 1 && k <= witnesses.length)) throw new AppError("USAGE", `--witness-threshold must be a whole number from 1 to ${witnesses.length} (the witnesses given), got "${threshold}"`);
  return { witnesses, threshold: k };
}

/**
 * Verifies a bundle; touches no database and creates nothing, so it runs anywhere the bundle is copied to. Exit 0
 * only for VERIFIED; 1 for TAMPERED, INCOMPLETE, UNSUPPORTED, UNTRUSTED_KEY and UNWITNESSED; 2 when there is
 * nothing to verify with (no trusted key) or nothing to verify (not an AOS proof bundle).
 */
export function verifyCommand(ctx: CliContext): Command {
  return new Command("verify")
    .description("verify a proof bundle offline, with no database; exit 0 only when VERIFIED")
    .argument("<bundle>", "a file written by `aos export-proof`")
    .option("--key <vkey>", "a trusted verification key, or a file of them (repeatable); without it, the local key store and AOS_VERIFIER_KEYS", collectKeys, [] as string[])
    .option("--witness <vkey>", "a trusted witness's verifier key (repeatable): the tenant checkpoint must bear their cosignatures", collectKeys, [] as string[])
    .option("--witness-threshold <k>", "how many of the --witness keys must have cosigned (default: all of them)")
    .option("--tsa-cert <file>", "a PEM file of a trusted timestamp authority's certificate or CA (repeatable): the checkpoint's timestamp is then checked and its time shown", collectKeys, [] as string[])
    .option("--json", "print the result as JSON")
    .action((file: string, flags: CommonFlags & { key: string[]; witness: string[]; witnessThreshold?: string; tsaCert: string[] }) => {
      const tsaCertificates = flags.tsaCert.map((path) => readInputFile(path).toString("utf8"));
      const policy = { ...(witnessPolicy(flags.witness, flags.witnessThreshold) ?? { witnesses: [], threshold: 0 }), tsaCertificates };
      const keys = trustedKeys(ctx.config, flags.key);
      const verdict = verifyBundleText(readInputFile(file), keys.verifiers, policy);
      if (flags.json) printJson(ctx.output, { ...verdict, key_source: keys.source });
      else printProof(ctx.output, verdict, `bundle ${file}${verdict.run_id === null ? "" : ` (run ${verdict.run_id})`}`);
      ctx.exitCode = verdict.verification_status === "VERIFIED" ? EXIT.ok : EXIT.failure;
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
      const keys = trustedKeys(ctx.config, flags.key);
      const result = verifyStepProof(readInputFile(file).toString("utf8"), keys.verifiers);
      if (!result.ok) {
        if (flags.json) printJson(ctx.output, { verified: false, code: result.code, reason: result.reason });
        else ctx.output.out(`Step proof ${printable(file)}: ${paint(ctx.output, "red", "NOT VERIFIED")}\n  ${printable(result.reason)}`);
        ctx.exitCode = EXIT.failure;
        return;
      }
      const { seq, treeSize, origin, runId, leaf, signedBy } = result;
      const summary = { verified: true, seq, tree_size: treeSize, origin, run_id: runId, step: leaf, signed_by: signedBy };
      if (flags.json) return printJson(ctx.output, summary);
      const what = leaf.kind === "run_end" ? `the run's end: ${leaf.status} (${leaf.termination_reason})` : `${leaf.step_id} ${leaf.skill} ${leaf.status}`;
      ctx.output.out(`Step proof ${printable(file)}: ${paint(ctx.output, "green", "VERIFIED")}`);
      ctx.output.out(`  seq ${seq} of ${treeSize} in ${printable(origin)}: ${printable(what)}`);
      ctx.output.out(`  signed by ${printable(signedBy.join(", "))}`);
    });
}
