import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../src/config.js";
import type { Database } from "../../src/db/database.js";
import type { Run } from "../../src/glossary.js";
import { exportProofBundle } from "../../src/services/proofs.js";
import { loadVerifiers } from "../../src/trace/key-store.js";
import { encodeVerifierKey } from "../../src/trace/signed-note.js";

/**
 * verifiers/python/aos_verify.py: a second verifier written from docs/proofs.md alone (Python's standard library,
 * its own Ed25519, Merkle tree and parsing), so a check through it does not reuse AOS's own hashing.
 */
const PYTHON_VERIFIER = new URL("../../verifiers/python/aos_verify.py", import.meta.url).pathname;

export interface PythonVerdict {
  file: string;
  verification_status: string;
  first_bad_seq: number | null;
  field: string | null;
  failure_reason?: string | null;
}

/** The Python verdict on each file, trusting `vkey`; `extra` flags (a witness policy) go before the files. */
export function runPython(files: string[], vkey: string, extra: string[] = []): Promise<PythonVerdict[]> {
  return runPythonVerifier(["--key", vkey, "--json", ...extra, ...files]).then(({ stdout }) => stdout.trim().split("\n").map((line) => JSON.parse(line) as PythonVerdict));
}

/** aos_verify.py with these arguments; rejects unless it exits 0 or 1 (a verdict), unless `anyExit`. */
export function runPythonVerifier(args: string[], anyExit = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [PYTHON_VERIFIER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", (error) => reject(new Error(`python3 is needed for the independent verifier (CI installs it): ${error.message}`)));
    child.on("close", (code) => {
      if (code !== 0 && code !== 1 && !anyExit) reject(new Error(`aos_verify.py exited ${code}: ${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/** Each run's proof bundle as `aos proof --bundle` exports it, checked by the Python verifier: the runs it does not call VERIFIED. */
export async function pythonUnverified(db: Database, config: Config, runs: readonly Run[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "aos-python-check-"));
  try {
    const files = new Map<string, string>();
    for (const run of runs) {
      const file = join(dir, `${run.id}.json`);
      writeFileSync(file, JSON.stringify(await exportProofBundle(db, config, run.tenantId, run.id)));
      files.set(file, run.id);
    }
    const vkey = encodeVerifierKey(loadVerifiers(config)[0]!);
    const problems: string[] = [];
    const paths = [...files.keys()];
    for (let start = 0; start < paths.length; start += 200) {
      for (const verdict of await runPython(paths.slice(start, start + 200), vkey)) {
        if (verdict.verification_status !== "VERIFIED") problems.push(`${files.get(verdict.file)}: ${verdict.verification_status} at ${verdict.first_bad_seq} (${verdict.field})`);
      }
    }
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
