import { join } from "node:path";
import { expect } from "vitest";
import { parseWitnessVerifierKey, type WitnessVerifier } from "../../src/trace/cosignature.js";
import { type CliChild, runCli, spawnCli } from "./cli.js";
import { tempDir } from "./temp-dirs.js";

/** A witness made with the built CLI (`aos witness keygen`), as an operator makes one. */
export async function witnessKey(name: string, env: Record<string, string>): Promise<{ keyFile: string; verifier: WitnessVerifier; vkey: string }> {
  const keyFile = join(tempDir("aos-witness-key"), "witness.key");
  const made = await runCli(["witness", "keygen", "--name", name, "-o", keyFile, "--json"], env);
  expect(made.code, made.stderr).toBe(0);
  const { verifier_key: vkey } = JSON.parse(made.stdout) as { verifier_key: string };
  const parsed = parseWitnessVerifierKey(vkey);
  if (!parsed.ok) throw new Error(parsed.reason);
  return { keyFile, verifier: parsed.key, vkey };
}

/** `aos witness serve` for one log key, on a free loopback port. */
export function serveWitness(keyFile: string, stateDir: string, logVerifierKey: string, env: Record<string, string>): CliChild {
  return spawnCli(["witness", "serve", "--key", keyFile, "--state", stateDir, "--log-key", logVerifierKey, "--port", "0", "-q"], env);
}

/** The URL a served witness printed once it listens. */
export async function listening(child: CliChild): Promise<string> {
  for (;;) {
    const url = /listening on (http:\/\/[\d.]+:\d+)/.exec(child.output.stdout)?.[1];
    if (url !== undefined) return url;
    if (child.child.exitCode !== null) throw new Error(`aos witness serve exited: ${child.output.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
