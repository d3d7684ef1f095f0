import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportProofBundle } from "../src/services/proofs.js";
import { type BundleStep, type FullBundleStep, type ProofBundle, parseBundle } from "../src/trace/bundle.js";
import { loadVerifiers } from "../src/trace/key-store.js";
import { encodeVerifierKey, generateSigningKey, type NoteVerifier } from "../src/trace/signed-note.js";
import { verifyTrace } from "../src/trace/verify-trace.js";
import { runCli, tempHome, writePlan } from "./support/cli.js";
import { testBackends, type TestDatabase } from "./support/databases.js";
import { runToEnd, testConfig } from "./support/harness.js";

const config = testConfig();
const plan = {
  steps: [
    { step_id: "a", skill: "json_transform", params: { payload: { who: "Ada" }, mapping: { who: "who" } } },
    { step_id: "b", skill: "json_transform", params: { payload: { hi: "hello {{a.who}}" }, mapping: { hi: "hi" } } },
    { step_id: "c", skill: "json_transform", params: { payload: { n: 3 }, mapping: { n: "n" } } },
  ],
};

/** The run exported here is never pruned, so every step carries its payload. */
const full = (step: BundleStep | undefined) => step as FullBundleStep;

function check(bundle: ProofBundle | string, verifiers: NoteVerifier[]) {
  const parsed = parseBundle(typeof bundle === "string" ? bundle : JSON.stringify(bundle));
  if (!parsed.ok) return { status: "TAMPERED", firstBadSeq: parsed.firstBadSeq, reason: parsed.reason };
  const verdict = verifyTrace(parsed.evidence, verifiers);
  return { status: verdict.status, firstBadSeq: verdict.firstBadSeq, reason: verdict.failureReason };
}

describe("proof bundles, checked offline", () => {
  const backend = testBackends()[0]!;
  let db: TestDatabase;
  let original: ProofBundle;
  let verifiers: NoteVerifier[];
  beforeAll(async () => {
    db = await backend.open();
    const detail = await runToEnd(db, config, { tenantId: "t-bundle", goal: "bundle me", plan });
    original = await exportProofBundle(db, config, "t-bundle", detail.run.id);
    verifiers = loadVerifiers(config);
  });
  afterAll(async () => db?.close());

  const mutated = (change: (bundle: ProofBundle) => void): ProofBundle => {
    const copy = structuredClone(original);
    change(copy);
    return copy;
  };

  it("verifies as exported, carries no private key, and fails under another key", () => {
    expect(check(original, verifiers)).toEqual({ status: "VERIFIED", firstBadSeq: null, reason: null });
    expect(JSON.stringify(original)).not.toContain("PRIVATE+KEY");
    expect(check(original, [generateSigningKey("aos.local").verifier]).status).toBe("TAMPERED");
  });

  const cases: [string, (bundle: ProofBundle) => void, number | null][] = [
    ["a step's params", (b) => void ((full(b.steps[1]).params.payload as Record<string, string>).hi = "hello Eve"), 1],
    ["a step's outcome", (b) => void (full(b.steps[2]).outcome_data = { n: 4 }), 2],
    ["a step's status", (b) => void (b.steps[0]!.status = "failed"), 0],
    ["a step's cost", (b) => void (b.steps[1]!.cost_cents = 1), 1],
    ["a step's timestamp", (b) => void (b.steps[2]!.completed_at = "2001-01-01T00:00:00.000Z"), 2],
    ["a step's decision", (b) => void (b.steps[0]!.decision = { action: "allow", reason: "r", policy_id: "p", policy_hash: "h" }), 0],
    ["a malformed timestamp", (b) => void (b.steps[1]!.started_at = "yesterday"), 1],
    ["a deleted step", (b) => void b.steps.splice(1, 1), 1],
    ["an inserted step", (b) => void b.steps.push({ ...b.steps[2]!, seq: 3 }), 3],
    ["two reordered steps", (b) => void b.steps.reverse(), 0],
    ["a truncated trace", (b) => void (b.steps.length = 1), 1],
    ["the tenant", (b) => void (b.run.tenant_id = "mallory"), 0],
    ["the run id", (b) => void (b.run.run_id = "00000000-0000-0000-0000-000000000000"), 0],
    ["the checkpoint", (b) => void (b.checkpoint = (b.checkpoint ?? "").replace("\n3\n", "\n2\n")), null],
    ["a missing checkpoint", (b) => void (b.checkpoint = null), null],
    ["the stored chain head", (b) => void (b.trace.root_hash = "0".repeat(64)), null],
  ];
  it.each(cases)("catches a changed %s", (_what, change, firstBadSeq) => {
    const result = check(mutated(change), verifiers);
    expect(result.status).toBe("TAMPERED");
    expect(result.firstBadSeq).toBe(firstBadSeq);
  });

  it("makes `aos verify` exit 1 for every one of those changes, with no database", async () => {
    const home = tempHome();
    const key = verifiers.map(encodeVerifierKey)[0] as string;
    const offline = { AOS_HOME: join(home, "absent"), DATABASE_URL: "postgres://nobody@127.0.0.1:1/nothing" };
    for (const [what, change] of cases) {
      const file = join(home, "mutated.json");
      writeFileSync(file, JSON.stringify(mutated(change)));
      const result = await runCli(["verify", file, "--key", key, "--json"], offline);
      expect([what, result.code]).toEqual([what, 1]);
      expect(JSON.parse(result.stdout).verification_status).toBe("TAMPERED");
    }
  });

  it("names the right step when a single byte of the file changes", () => {
    const text = JSON.stringify(original, null, 2);
    const at = text.indexOf("hello Ada");
    const flipped = `${text.slice(0, at + 6)}B${text.slice(at + 7)}`;
    expect(check(flipped, verifiers)).toMatchObject({ status: "TAMPERED", firstBadSeq: 1 });
    expect(check(text.replace('"format"', '"formet"'), verifiers).status).toBe("TAMPERED");
    expect(check(text.slice(0, -10), verifiers).status).toBe("TAMPERED");
  });
});

describe("the README's proof walk, as child processes", () => {
  it("runs, proves, exports, verifies offline with no database, and catches one changed byte", async () => {
    const home = tempHome();
    const env = { AOS_HOME: home };
    const run = JSON.parse((await runCli(["run", "--tenant-id", "demo", "--goal", "walk", "--plan", writePlan(home, plan), "--json"], env)).stdout);
    expect(run.proof.verification_status).toBe("VERIFIED");
    const proof = await runCli(["proof", run.run_id, "--tenant-id", "demo"], env);
    expect(proof.code).toBe(0);
    expect(proof.stdout).toContain("VERIFIED");
    const bundle = join(home, "run.aosproof.json");
    expect((await runCli(["export-proof", run.run_id, "--tenant-id", "demo", "-o", bundle], env)).code).toBe(0);
    const vkey = (await runCli(["keys"], env)).stdout.trim().split("\n")[0] as string;
    expect(vkey).toMatch(/^aos\.local\+[0-9a-f]{8}\+/);

    // Offline: no AOS_HOME that exists, and a DATABASE_URL that points nowhere.
    const offline = { AOS_HOME: join(home, "does-not-exist"), DATABASE_URL: "postgres://nobody@127.0.0.1:1/nothing" };
    const verified = await runCli(["verify", bundle, "--key", vkey], offline);
    expect(verified.stdout).toContain("VERIFIED");
    expect(verified.code).toBe(0);
    const text = readFileSync(bundle, "utf8");
    const at = text.indexOf("hello Ada");
    writeFileSync(bundle, `${text.slice(0, at + 6)}B${text.slice(at + 7)}`);
    const tampered = await runCli(["verify", bundle, "--key", vkey], offline);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain("TAMPERED at seq 1");

    const stepProof = join(home, "step.tlog-proof");
    expect((await runCli(["prove-step", run.run_id, "--tenant-id", "demo", "--seq", "2", "-o", stepProof], env)).code).toBe(0);
    const step = await runCli(["verify-step", stepProof, "--key", vkey], offline);
    expect(step.code).toBe(0);
    expect(step.stdout).toContain("step seq 2 of 3");
    writeFileSync(stepProof, readFileSync(stepProof, "utf8").replace("\nindex 2\n", "\nindex 1\n"));
    expect((await runCli(["verify-step", stepProof, "--key", vkey], offline)).code).toBe(1);
  });
});
