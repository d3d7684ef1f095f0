import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AppError } from "../src/errors.js";
import { cosignCheckpoint, verifyCosignatures, witnessKeyFromSeed } from "../src/trace/cosignature.js";
import { generateSigningKey, openNote, signNote } from "../src/trace/signed-note.js";
import { submitCheckpoint, type SubmitResult } from "../src/witness/client.js";
import { type RunningWitness, startWitness } from "../src/witness/server.js";
import { tempDir } from "./support/temp-dirs.js";
import { loopbackEgress, TestTenantLog } from "./support/test-tenant-log.js";

// The witness in this process, through the client the log uses: the egress floor, the HTTP edges (paths, methods,
// sizes), the origin policy, the rollback race of the spec, and the state directory's failure modes. The protocol
// across real processes, forks and restarts is in witness-processes.test.ts.

const logKey = generateSigningKey("log.example");
const witnessKey = witnessKeyFromSeed("witness.example/w1", Buffer.alloc(32, 1));
const egress = loopbackEgress();
const NOW = 1_750_000_000;
const running: RunningWitness[] = [];

afterEach(async () => {
  for (const witness of running.splice(0)) await witness.close();
});

async function start(stateDir = tempDir("aos-witness-state")): Promise<RunningWitness & { stateDir: string }> {
  const witness = await startWitness({ signerKey: witnessKey.signerKey, stateDir, logKeys: [logKey.verifier], host: "127.0.0.1", port: 0, now: () => NOW });
  running.push(witness);
  return { ...witness, stateDir };
}

function refusal(result: SubmitResult): { status: number; reason: string } {
  if (result.ok || !("status" in result)) throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
  return result;
}

describe("the witness client", () => {
  it("passes the egress floor first: loopback is refused unless the operator opened it, and nothing is sent", async () => {
    const witness = await start();
    const log = new TestTenantLog(logKey, "acme");
    log.append(3);
    const closed = { openings: [], narrowTo: [] };
    await expect(submitCheckpoint(witness.url, log.request(0), { egress: closed })).rejects.toMatchObject({ code: "FORBIDDEN_TARGET", message: expect.stringMatching(/AOS_EGRESS_ALLOW/) });
    const narrowed = { ...egress, narrowTo: ["witness.example"] };
    await expect(submitCheckpoint(witness.url, log.request(0), { egress: narrowed })).rejects.toMatchObject({ code: "FORBIDDEN_TARGET" });
    // The witness saw nothing: it still expects old size 0.
    expect(await submitCheckpoint(witness.url, log.request(0), { egress })).toMatchObject({ ok: true });
  });

  it("refuses a witness URL it could not check as written, and reports a witness that is not there", async () => {
    const log = new TestTenantLog(logKey, "acme");
    log.append(1);
    await expect(submitCheckpoint("http://127.0.0.1:1/?x=1", log.request(0), { egress })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    await expect(submitCheckpoint("ftp://127.0.0.1/", log.request(0), { egress })).rejects.toMatchObject({ code: "FORBIDDEN_TARGET" });
    await expect(submitCheckpoint("http://127.0.0.1:1", log.request(0), { egress })).rejects.toMatchObject({ code: "NETWORK_ERROR" });
  });

  it("returns cosignature lines that verify with the witness key, at the witness's time", async () => {
    const witness = await start();
    const log = new TestTenantLog(logKey, "tenant with spaces/and slashes");
    log.append(5);
    const result = await submitCheckpoint(`${witness.url}/`, log.request(0), { egress });
    if (!result.ok) throw new Error(JSON.stringify(result));
    const checked = verifyCosignatures(`${log.checkpoint()}${result.cosignatures.join("")}`, [witnessKey.verifier]);
    expect(checked).toMatchObject({ ok: true, witnesses: [{ status: "verified", timestamp: NOW }] });
  });
});

describe("the witness's HTTP edges", () => {
  it("serves POST /add-checkpoint only, and caps the body", async () => {
    const witness = await start();
    expect((await fetch(`${witness.url}/`)).status).toBe(404);
    expect((await fetch(`${witness.url}/add-checkpoint`)).status).toBe(405);
    const big = await fetch(`${witness.url}/add-checkpoint`, { method: "POST", body: "x".repeat(70_000) });
    expect(big.status).toBe(413);
    const streamed = new ReadableStream({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode("y".repeat(16_384)));
      },
    });
    const unbounded = await fetch(`${witness.url}/add-checkpoint`, { method: "POST", body: streamed, duplex: "half" } as RequestInit);
    expect(unbounded.status).toBe(413);
    const bad = await fetch(`${witness.url}/add-checkpoint`, { method: "POST", body: "old 0\n\nnot a note" });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/^bad add-checkpoint request: the checkpoint note is malformed/);
  });

  it("cosigns a checkpoint again when the log resubmits the one it has (a lost answer), and only then", async () => {
    const witness = await start();
    const log = new TestTenantLog(logKey, "acme");
    log.append(4);
    expect(await submitCheckpoint(witness.url, log.request(0), { egress })).toMatchObject({ ok: true });
    expect(await submitCheckpoint(witness.url, log.request(4), { egress })).toMatchObject({ ok: true });
    const withProof = { ...log.request(4), consistencyProof: [Buffer.alloc(32)] };
    expect(refusal(await submitCheckpoint(witness.url, withProof, { egress })).status).toBe(422);
  });

  it("lets exactly one of two racing checkpoints from the same old size through (the spec's rollback race)", async () => {
    const witness = await start();
    const log = new TestTenantLog(logKey, "acme");
    log.append(5);
    expect(await submitCheckpoint(witness.url, log.request(0), { egress })).toMatchObject({ ok: true });
    log.append(20);
    const results = await Promise.all(
      [10, 25, 12, 18].map((size) => submitCheckpoint(witness.url, log.request(5, size), { egress }).then((result) => ({ size, result }))),
    );
    const won = results.filter(({ result }) => result.ok);
    expect(won).toHaveLength(1);
    const winner = won[0]?.size;
    for (const { result } of results.filter(({ result }) => !result.ok)) expect(result).toEqual({ ok: false, conflictSize: winner });
    // And the next request must start from the winner's size, never roll back below it.
    expect(await submitCheckpoint(witness.url, log.request(5, 10), { egress })).toEqual({ ok: false, conflictSize: winner });
  });
});

describe("the origin policy", () => {
  it("knows <log key name>/tenant/<tenant> for its log keys only (404), and needs that key's signature (403)", async () => {
    const witness = await start();
    const body = (origin: string) => `${origin}\n1\n${Buffer.alloc(32, 3).toString("base64")}\n`;
    const submit = (note: string) => submitCheckpoint(witness.url, { oldSize: 0, consistencyProof: [], note }, { egress });
    for (const origin of ["log.example/tenant/", "log.example/tenant/a/b", "log.example/run/r1", "log.example", "other.example/tenant/acme", "log.example.evil/tenant/acme"]) {
      const result = refusal(await submit(signNote(body(origin), logKey.signer)));
      expect([origin, result.status]).toEqual([origin, 404]);
      expect(result.reason).toContain("this witness cosigns only log.example/tenant/<tenant>");
    }
    const impostor = generateSigningKey("log.example");
    expect(refusal(await submit(signNote(body("log.example/tenant/acme"), impostor.signer)))).toMatchObject({ status: 403 });
    // A bad signature by the trusted key spoils the note even beside a good one.
    const good = signNote(body("log.example/tenant/acme"), logKey.signer);
    const forged = signNote(body("log.example/tenant/acme").replace("\n1\n", "\n2\n"), logKey.signer);
    expect(refusal(await submit(`${good}${forged.slice(forged.lastIndexOf("\n\n") + 2)}`))).toMatchObject({ status: 403 });
    // Other witnesses' cosignatures on the note are lines of unknown keys, and do not matter.
    const other = witnessKeyFromSeed("witness.example/w9", Buffer.alloc(32, 9));
    expect(await submit(`${good}${cosignCheckpoint(body("log.example/tenant/acme"), other.signer, NOW)}`)).toMatchObject({ ok: true });
    expect(openNote(good, [logKey.verifier]).ok).toBe(true);
  });
});

describe("the state directory", () => {
  it("is one witness's: a second one is refused until the first has closed", async () => {
    const first = await start();
    await expect(start(first.stateDir)).rejects.toMatchObject({ code: "WITNESS_STATE_LOCKED", message: expect.stringMatching(/in use by this process/) });
    await running.splice(0)[0]?.close();
    await expect(start(first.stateDir)).resolves.toMatchObject({ url: expect.stringMatching(/^http:/) });
  });

  it("refuses to start on a state file that does not read back, rather than forget that origin", async () => {
    const { stateDir } = await start();
    const log = new TestTenantLog(logKey, "acme");
    log.append(2);
    expect(await submitCheckpoint(running[0]!.url, log.request(0), { egress })).toMatchObject({ ok: true });
    await running.splice(0)[0]?.close();
    const dir = join(stateDir, "checkpoints");
    const [file] = readdirSync(dir);
    writeFileSync(join(dir, `${file}.4242.tmp`), "a write that crashed before its rename");
    const restarted = await start(stateDir);
    expect(await submitCheckpoint(restarted.url, log.request(0), { egress })).toEqual({ ok: false, conflictSize: 2 });
    expect(readdirSync(dir)).toEqual([file]);
    await running.splice(0)[0]?.close();
    for (const text of ["", log.body(), log.checkpoint().replace("\n2\n", "\n02\n"), new TestTenantLog(logKey, "other").checkpoint()]) {
      writeFileSync(join(dir, file as string), text);
      const error = await start(stateDir).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: "WITNESS_STATE_INVALID", message: expect.stringContaining(join(dir, file as string)) });
    }
  });

  it("needs a witness private key and a log key to start", async () => {
    const options = { stateDir: tempDir("aos-witness-state"), host: "127.0.0.1", port: 0 };
    await expect(startWitness({ ...options, signerKey: logKey.signerKey, logKeys: [logKey.verifier] })).rejects.toMatchObject({ code: "USAGE", message: expect.stringMatching(/type 0x01/) });
    await expect(startWitness({ ...options, signerKey: witnessKey.signerKey, logKeys: [] })).rejects.toMatchObject({ code: "USAGE" });
  });
});
