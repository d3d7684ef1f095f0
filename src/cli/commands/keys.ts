import { Command } from "commander";
import { loadKeyRing, rotateSigningKey } from "../../trace/key-store.js";
import { encodeVerifierKey } from "../../trace/signed-note.js";
import type { CliContext, CommonFlags } from "../context.js";
import { printJson } from "../output.js";

export function keysCommand(ctx: CliContext): Command {
  const keys = new Command("keys")
    .description("print the verification keys (C2SP vkey) of this AOS: the signing key's first, then retired ones")
    .option("--json", "print the keys as JSON")
    .action((flags: CommonFlags) => {
      const ring = loadKeyRing(ctx.config);
      const signing = encodeVerifierKey(ring.signer);
      const all = [signing, ...ring.verifiers.map(encodeVerifierKey).filter((vkey) => vkey !== signing)];
      if (flags.json) return printJson(ctx.output, { signing_key: signing, verification_keys: all });
      for (const vkey of all) ctx.output.out(vkey);
    });
  keys.addCommand(
    new Command("rotate")
      .description("replace the signing key; the old verification key stays trusted, so old proofs still verify")
      .option("--json", "print the new key as JSON")
      .action((flags: CommonFlags) => {
        const vkey = rotateSigningKey(ctx.config);
        if (flags.json) return printJson(ctx.output, { signing_key: vkey });
        ctx.output.out(`New signing key; its verification key is:\n${vkey}`);
      }),
  );
  return keys;
}
