import { statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyCosignatures, type WitnessVerifier } from "../src/trace/cosignature.js";
import { generateSigningKey, openNote } from "../src/trace/signed-note.js";
import type { AddCheckpointRequest } from "../src/trace/witness-protocol.js";
import { submitCheckpoint, type SubmitResult } from "../src/witness/client.js";
import { type CliChild, runCli, tempHome } from "./support/cli.js";
import { tempDir } from "./support/temp-dirs.js";
import { loopbackEgress, TestTenantLog } from "./support/test-tenant-log.js";
import { listening, serveWitness, witnessKey } from "./support/witness-processes.js";

// The witness protocol end to end, as an operator runs it: two witnesses started with the built CLI (`aos witness
// keygen`, `aos witness serve`), a log made here from the Merkle functions submitting checkpoints of a growing tree
// through the client, and an operator who forks the log. Every refusal is asked of both witnesses; one is restarted
// (SIGTERM) and the other killed (SIGKILL) to show the refusal survives on disk. Run `npm run build` first.

interface Witness {
  name: string;
  keyFile: string;
  stateDir: string;
  verifier: WitnessVerifier;
  process: CliChild;
  url: string;
}

const env = { AOS_HOME: tempHome() };
const egress = loopbackEgress();
const logKey = generateSigningKey("log.example");
const log = new TestTenantLog(logKey, "acme corp");
const fork = new TestTenantLog(logKey, "acme corp", "forged entry");
const witnesses: Witness[] = [];

async function keygen(name: string): Promise<{ keyFile: string; verifier: WitnessVerifier }> {
  return witnessKey(name, env);
}

function serve(keyFile: string, stateDir: string): CliChild {
  return serveWitness(keyFile, stateDir, logKey.verifierKey, env);
}

async function startWitness(witness: Omit<Witness, "process" | "url">): Promise<Witness> {
  const process = serve(witness.keyFile, witness.stateDir);
  return { ...witness, process, url: await listening(process) };
}

function submitToAll(request: AddCheckpointRequest): Promise<SubmitResult[]> {
  return Promise.all(witnesses.map((witness) => submitCheckpoint(witness.url, request, { egress })));
}

function statuses(results: SubmitResult[]): (number | string)[] {
  return results.map((result) => (result.ok ? 200 : "conflictSize" in result ? `409 size ${result.conflictSize}` : result.status));
}

/** The log's round: both witnesses cosign the checkpoint at `size` from `oldSize`, and the cosignatures verify. */
async function cosignedByBoth(oldSize: number, size: number): Promise<void> {
  const request = log.request(oldSize, size);
  const results = await submitToAll(request);
  expect(statuses(results)).toEqual([200, 200]);
  const lines = results.flatMap((result) => (result.ok ? result.cosignatures : []));
  const note = `${request.note}${lines.join("")}`;
  const checked = verifyCosignatures(note, witnesses.map((witness) => witness.verifier));
  if (!checked.ok) throw new Error(checked.reason);
  const now = Math.floor(Date.now() / 1000);
  for (const witness of checked.witnesses) {
    expect(witness.status).toBe("verified");
    if (witness.status === "verified") expect(Math.abs(witness.timestamp - now)).toBeLessThan(60);
  }
  expect(openNote(note, [logKey.verifier])).toMatchObject({ ok: true, text: log.body(size) });
}

beforeAll(async () => {
  for (const name of ["witness.example/w1", "witness.example/w2"]) {
    const { keyFile, verifier } = await keygen(name);
    witnesses.push(await startWitness({ name, keyFile, stateDir: tempDir("aos-witness-state"), verifier }));
  }
});

afterAll(async () => {
  for (const { process } of witnesses) {
    if (process.child.exitCode === null) process.child.kill("SIGTERM");
    await process.exited;
  }
});

describe("two witness processes", () => {
  it("keygen writes the private key 0600, prints the verifier key, and never overwrites a key", async () => {
    const [first] = witnesses as [Witness];
    expect(statSync(first.keyFile).mode & 0o777).toBe(0o600);
    const again = await runCli(["witness", "keygen", "--name", "witness.example/w1", "-o", first.keyFile], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists; a witness key is never overwritten/);
    expect(first.process.output.stdout).toContain(`verifier key: ${first.verifier.name}+${first.verifier.keyId}+`);
  });

  it("cosign the checkpoints of a growing tree, each from the last with its consistency proof", async () => {
    let cosigned = 0;
    for (const grow of [1, 2, 5, 5, 1, 18]) {
      const size = log.append(grow);
      await cosignedByBoth(cosigned, size);
      cosigned = size;
    }
    expect(cosigned).toBe(32);
  });

  it("answer a wrong old size with 409 and the size they cosigned", async () => {
    log.append(3);
    expect(statuses(await submitToAll(log.request(0)))).toEqual(["409 size 32", "409 size 32"]);
    expect(statuses(await submitToAll(log.request(30)))).toEqual(["409 size 32", "409 size 32"]);
  });

  it("refuse a consistency proof that does not verify (422)", async () => {
    const request = log.request(32);
    const proof = request.consistencyProof.map((hash) => Buffer.from(hash));
    proof[0] = Buffer.from(proof[0]!.map((byte, index) => (index === 0 ? byte ^ 1 : byte)));
    expect(statuses(await submitToAll({ ...request, consistencyProof: proof }))).toEqual([422, 422]);
    expect(statuses(await submitToAll({ ...request, consistencyProof: request.consistencyProof.slice(1) }))).toEqual([422, 422]);
  });

  it("refuse a checkpoint not signed by the log's key (403) and an origin they do not know (404)", async () => {
    const impostor = generateSigningKey("log.example");
    const request = log.request(32);
    expect(statuses(await submitToAll({ ...request, note: log.checkpoint(35, impostor.signer) }))).toEqual([403, 403]);
    const stranger = new TestTenantLog(generateSigningKey("elsewhere.example"), "acme corp");
    stranger.append(2);
    expect(statuses(await submitToAll(stranger.request(0)))).toEqual([404, 404]);
  });

  it("refuse every fork of what they cosigned: the same size with another root, a tree it is not a prefix of, a smaller tree", async () => {
    fork.append(32);
    expect(statuses(await submitToAll(fork.request(32, 32)))).toEqual([409, 409]);
    fork.append(8);
    expect(statuses(await submitToAll(fork.request(32, 40)))).toEqual([422, 422]);
    // The fork's proof with the honest tree's old root is still not a proof for the honest tree.
    expect(statuses(await submitToAll({ ...fork.request(32, 40), consistencyProof: log.request(32, 35).consistencyProof }))).toEqual([422, 422]);
    expect(statuses(await submitToAll({ oldSize: 32, consistencyProof: [], note: log.checkpoint(20) }))).toEqual([400, 400]);
    expect(statuses(await submitToAll(log.request(20, 20)))).toEqual(["409 size 32", "409 size 32"]);
  });

  it("keep refusing the fork after a restart (SIGTERM) and after being killed (SIGKILL): the state is on disk", async () => {
    const [first, second] = witnesses as [Witness, Witness];
    first.process.child.kill("SIGTERM");
    expect(await first.process.exited).toBe(0);
    expect(first.process.output.stderr).toMatch(/SIGTERM: stopping the witness/);
    second.process.child.kill("SIGKILL");
    await second.process.exited;
    // SIGKILL left its lock file behind; the restart takes it over since its pid is gone.
    witnesses.splice(0, 2, await startWitness(first), await startWitness(second));
    expect(statuses(await submitToAll(fork.request(32, 32)))).toEqual([409, 409]);
    expect(statuses(await submitToAll(fork.request(32, 40)))).toEqual([422, 422]);
    expect(statuses(await submitToAll(fork.request(0, 40)))).toEqual(["409 size 32", "409 size 32"]);
    await cosignedByBoth(32, 35);
  });

  it("refuse a second witness on a state directory in use, saying by whom", async () => {
    const [first] = witnesses as [Witness];
    const second = serve(first.keyFile, first.stateDir);
    expect(await second.exited).toBe(1);
    expect(second.output.stderr).toMatch(new RegExp(`in use by pid ${first.process.child.pid} \\(lock file .*witness\\.lock\\)`));
    // The first goes on cosigning.
    log.append(1);
    await cosignedByBoth(35, 36);
  });

  it("say what is wrong with bad flags and keys, with exit code 2", async () => {
    const [first] = witnesses as [Witness];
    const cases: [string[], RegExp][] = [
      [["--key", first.keyFile, "--state", tempDir("s"), "--port", "0"], /give at least one --log-key/],
      [["--key", first.keyFile, "--state", tempDir("s"), "--port", "0", "--log-key", first.process.output.stdout.split("verifier key: ")[1]!.trim()], /--log-key .* is not a log verifier key .*signature type 0x04/],
      [["--key", first.keyFile, "--state", tempDir("s"), "--port", "x", "--log-key", logKey.verifierKey], /--port must be a whole number/],
      [["--key", join(tempDir("s"), "missing"), "--state", tempDir("s"), "--port", "0", "--log-key", logKey.verifierKey], /cannot read --key .*aos witness keygen/],
      [["--state", tempDir("s"), "--port", "0", "--log-key", logKey.verifierKey], /required option '--key <file>'/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(["witness", "serve", ...args], env);
      expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(message)]);
    }
  });
});
