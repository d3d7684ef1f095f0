import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pinnedKeys } from "../src/cli/trusted-keys.js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyProofBundle } from "../src/client/verify.js";
import { proofKeys } from "../src/services/proof-keys.js";
import { exportProofBundle } from "../src/services/proofs.js";
import { parseRetentionAge, pruneFinishedRuns } from "../src/services/retention.js";
import { type ProofBundle } from "../src/trace/bundle.js";
import { chainNext, leafHashOf } from "../src/trace/chain.js";
import { formatCheckpoint } from "../src/trace/checkpoint.js";
import { inclusionProof, merkleRoot } from "../src/trace/merkle.js";
import { verifyStepProof } from "../src/trace/step-proof.js";
import { formatTlogProof } from "../src/trace/tlog-proof.js";
import { loadVerifiers } from "../src/trace/key-store.js";
import { encodeVerifierKey, generateSigningKey, type NoteVerifier, parseVerifierKey, signNote } from "../src/trace/signed-note.js";
import { type VerdictJson, verifyBundleText } from "../src/trace/verify-bundle.js";
import { bundleMutations } from "./support/bundle-mutations.js";
import { runCli, tempHome, writePlan } from "./support/cli.js";
import { testBackends, type TestDatabase } from "./support/databases.js";
import { testConfig } from "./support/harness.js";
import { finishedRichRun, parkedRichRun } from "./support/rich-run.js";

const config = testConfig();

/** `aos verify`'s own function; text that is not a bundle throws a USAGE error, reported here as that code. */
function verify(text: string, verifiers: readonly NoteVerifier[]): VerdictJson | { verification_status: "USAGE"; reason: string } {
  try {
    return verifyBundleText(text, verifiers);
  } catch (error) {
    return { verification_status: "USAGE", reason: (error as Error).message };
  }
}

describe("proof bundles against a bundle holder", () => {
  const backend = testBackends()[0]!;
  let db: TestDatabase;
  let verifiers: NoteVerifier[];
  const bundles: Record<"finished" | "pruned" | "unfinished", ProofBundle> = {} as never;
  beforeAll(async () => {
    db = await backend.open();
    const finished = await finishedRichRun(db, config, "t-bundle");
    bundles.finished = (await exportProofBundle(db, config, "t-bundle", finished.runId)) as ProofBundle;
    const pruned = await finishedRichRun(db, config, "t-bundle-pruned");
    const report = await pruneFinishedRuns(db, proofKeys(config), {
      olderThan: parseRetentionAge("1min"),
      tenantId: "t-bundle-pruned",
      dryRun: false,
      now: new Date(Date.now() + 3_600_000),
    });
    expect(report.runs).toBe(1);
    bundles.pruned = (await exportProofBundle(db, config, "t-bundle-pruned", pruned.runId)) as ProofBundle;
    const parked = await parkedRichRun(db, config, "t-bundle-parked");
    bundles.unfinished = (await exportProofBundle(db, config, "t-bundle-parked", parked.runId)) as ProofBundle;
    // The signing key exists once the first run was created.
    verifiers = loadVerifiers(config);
    expect(verifiers).toHaveLength(1);
  });
  afterAll(async () => db?.close());

  it("verifies as exported: the finished run VERIFIED, the pruned one VERIFIED saying so, the parked one INCOMPLETE", () => {
    const text = (bundle: ProofBundle) => JSON.stringify(bundle, null, 2);
    expect(verify(text(bundles.finished), verifiers)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 0, format: "aos-trace-v2" });
    const pruned = verify(text(bundles.pruned), verifiers) as VerdictJson;
    expect(pruned).toMatchObject({ verification_status: "VERIFIED", format: "aos-trace-v2" });
    expect(pruned.pruned_steps).toBe(pruned.step_count);
    expect(verify(text(bundles.unfinished), verifiers)).toMatchObject({ verification_status: "INCOMPLETE" });
    // The facts a reader gets come from the proven bytes.
    expect((verify(text(bundles.finished), verifiers) as VerdictJson).run).toMatchObject({ goal: "a run with every kind of row", end: { status: "succeeded" } });
    expect(JSON.stringify(bundles)).not.toContain("PRIVATE+KEY");
  });

  it.each(["finished", "pruned", "unfinished"] as const)(
    "a %s run's bundle: no single change of any value verifies, and a change inside steps[i] names seq i",
    (which) => {
      const mutations = bundleMutations(bundles[which]);
      const before = verify(JSON.stringify(bundles[which]), verifiers) as VerdictJson;
      expect(before.verification_status).toBe(which === "unfinished" ? "INCOMPLETE" : "VERIFIED");
      const wrong: string[] = [];
      for (const mutation of mutations) {
        const verdict = verify(mutation.text, verifiers);
        if (verdict.verification_status === "VERIFIED") {
          const withheld = mutation.withholds && (verdict as VerdictJson).pruned_steps > before.pruned_steps;
          if (!withheld) wrong.push(`${mutation.what}: VERIFIED`);
          continue;
        }
        const step = /^steps\[(\d+)\]/.exec(mutation.what);
        const seq = step === null ? null : Number(step[1]);
        const named = verdict as VerdictJson;
        if (seq !== null && named.verification_status === "TAMPERED" && named.first_bad_seq !== seq) {
          wrong.push(`${mutation.what}: TAMPERED at seq ${named.first_bad_seq} (${named.field}), not ${seq}`);
        }
      }
      expect(wrong).toEqual([]);
      // The walk is not vacuous: every step's header, payloads and hashes, the run-end and the checkpoint were changed.
      expect(mutations.length).toBeGreaterThan(which === "unfinished" ? 150 : 600);
    },
  );

  it("any single change, drawn at random, is never VERIFIED (fast-check, over the finished run's bundle)", () => {
    const text = JSON.stringify(bundles.finished, null, 2);
    fc.assert(
      fc.property(fc.nat({ max: text.length - 1 }), fc.string({ minLength: 1, maxLength: 3 }), (at, inserted) => {
        const changed = text.slice(0, at) + inserted + text.slice(at + 1);
        fc.pre(changed !== text);
        const verdict = verify(changed, verifiers);
        // A change outside any value (white space between tokens) leaves the same bundle; anything else fails.
        const same = (() => {
          try {
            return JSON.stringify(JSON.parse(changed)) === JSON.stringify(bundles.finished);
          } catch {
            return false;
          }
        })();
        expect(verdict.verification_status === "VERIFIED").toBe(same);
      }),
      { numRuns: 400 },
    );
  });

  it("a malformed value is TAMPERED naming the field, never a crash: an impossible date inside the run-end", () => {
    const bundle = structuredClone(bundles.finished);
    const runEnd = (bundle.run_end as string).replace(/"completed_at":"[^"]+"/, '"completed_at":"2026-13-45T99:99:99.999Z"');
    // Made consistent with the stored hashes, as a careful forger would: only the signature can tell.
    const lastChain = bundle.steps.at(-1)!.chain_hash;
    bundle.run_end = runEnd;
    bundle.root_hash = chainNext(lastChain, leafHashOf(runEnd));
    expect(verify(JSON.stringify(bundle), verifiers)).toMatchObject({ verification_status: "TAMPERED", field: "run_end.completed_at" });
  });

  it("reads a bundle as I-JSON: a member twice, a lone surrogate escape or bytes that are not UTF-8 make it no bundle", () => {
    const text = JSON.stringify(bundles.finished, null, 2);
    // A forged member before the real one: JSON.parse keeps the last, a reader keeping the first would see the forgery.
    const twice = text.replace('"checkpoint":', '"checkpoint": "FORGED",\n  "checkpoint":');
    expect(verify(twice, verifiers)).toMatchObject({ verification_status: "USAGE", reason: expect.stringMatching(/"checkpoint" appears twice/) });
    const nested = text.replace('"params": "', '"params": "{}",\n      "params": "');
    expect(verify(nested, verifiers)).toMatchObject({ verification_status: "USAGE", reason: expect.stringMatching(/"params" appears twice/) });
    // U+FFFD hashes like a lone surrogate (Node encodes one as EF BF BD), but would read as something else.
    const withReplacement = JSON.stringify({ ...bundles.finished, header: bundles.finished.header.replace('"goal":"', '"goal":"\ufffd') });
    expect(verify(withReplacement.replace("\ufffd", "\\ud800"), verifiers)).toMatchObject({ verification_status: "USAGE", reason: expect.stringMatching(/lone surrogate/) });
    const bytes = Buffer.from(withReplacement, "utf8");
    const at = bytes.indexOf(Buffer.from("\ufffd", "utf8"));
    const invalid = Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at + 3)]);
    expect(verify(invalid as unknown as string, verifiers)).toMatchObject({ verification_status: "USAGE", reason: expect.stringMatching(/not UTF-8/) });
  });

  it("a run checkpoint carries exactly one signature: a line added beside it is TAMPERED", () => {
    const stranger = generateSigningKey("evil.example");
    const note = bundles.finished.checkpoint as string;
    const extra = `${note}${note.split("\n\n")[1]?.replace(/^\u2014 aos\.local /, "\u2014 evil.example ")}`;
    const added = { ...bundles.finished, checkpoint: extra };
    expect(verify(JSON.stringify(added), verifiers)).toMatchObject({ verification_status: "TAMPERED", field: "checkpoint" });
    expect(stranger.verifier.name).toBe("evil.example");
  });

  it("a step proof holds its leaf to its place and its checkpoint to a run's rules, even under a trusted signature", () => {
    const { steps, run_end: runEnd, header } = bundles.finished as unknown as { steps: { header: string }[]; run_end: string; header: string };
    const runId = (JSON.parse(header) as { run_id: string }).run_id;
    const forger = generateSigningKey("aos.local");
    /** A step proof for leaf `index` of a tree of these leaves, signed by the trusted forger for `origin`. */
    const proofOver = (leaves: string[], index: number, origin = `aos.local/run/${runId}`, extraSigner = false) => {
      const hashes = leaves.map((leaf) => Buffer.from(leafHashOf(leaf), "hex"));
      const body = formatCheckpoint({ format: "aos-trace-v2", origin, treeSize: leaves.length, merkleRoot: merkleRoot(hashes), chainHead: "0".repeat(64) });
      const signers = extraSigner ? [forger.signer, generateSigningKey("evil").signer] : forger.signer;
      return formatTlogProof({ extra: Buffer.from(leaves[index] as string), index, auditPath: inclusionProof(hashes, index), checkpointNote: signNote(body, signers) });
    };
    const genuine = [...steps.map((step) => step.header), runEnd];
    const trusted = [forger.verifier];
    expect(verifyStepProof(proofOver(genuine, 1), trusted)).toMatchObject({ ok: true, seq: 1, runId });
    expect(verifyStepProof(proofOver(genuine, genuine.length - 1), trusted)).toMatchObject({ ok: true, leaf: { kind: "run_end" } });
    const refused: [string, string][] = [
      ["a step header at another seq's place", proofOver([genuine[1] as string, genuine[0] as string, ...genuine.slice(2)], 0)],
      ["a step header at the run-end's place", proofOver(genuine.slice(0, -1), genuine.length - 2)],
      ["the run-end before the last leaf", proofOver([...genuine, genuine[0] as string], genuine.length - 1)],
      ["a second signature line", proofOver(genuine, 1, undefined, true)],
      ["another signer's log", proofOver(genuine, 1, `other.example/run/${runId}`)],
      ["another run's checkpoint, for the run-end", proofOver(genuine, genuine.length - 1, "aos.local/run/another-run")],
      ["a leaf written 1.0", proofOver(genuine.map((leaf) => leaf.replace(/"cost_cents":(\d+)/, '"cost_cents":$1.0')), 1)],
    ].map(([what, text]) => [what as string, (verifyStepProof(text as string, trusted) as { code?: string }).code ?? "VERIFIED"]);
    expect(refused.filter(([, code]) => code === "VERIFIED")).toEqual([]);
  });

  it("trust fails closed: another signer is UNTRUSTED_KEY naming its key, a non-bundle throws, the SDK agrees", () => {
    const stranger = generateSigningKey("aos.local").verifier;
    const text = JSON.stringify(bundles.finished);
    const untrusted = verify(text, [stranger]) as VerdictJson;
    expect(untrusted).toMatchObject({ verification_status: "UNTRUSTED_KEY", signature_valid: null });
    expect(untrusted.failure_reason).toContain(untrusted.signing_keys[0]);
    expect(verify('{"name":"aos","version":"0.1.0"}', verifiers)).toMatchObject({ verification_status: "USAGE", reason: expect.stringMatching(/^not an AOS proof bundle/) });
    expect(verify("not json", verifiers)).toMatchObject({ verification_status: "USAGE" });
    expect(verify(JSON.stringify({ ...bundles.finished, format: "aos-proof-bundle/v9" }), verifiers)).toMatchObject({ verification_status: "UNSUPPORTED" });

    const vkeys = verifiers.map(encodeVerifierKey);
    expect(verifyProofBundle(bundles.finished, vkeys)).toMatchObject({ verification_status: "VERIFIED" });
    expect(verifyProofBundle(text.replace('"status\\":\\"succeeded', '"status\\":\\"failed'), vkeys).verification_status).toBe("TAMPERED");
    expect(verifyProofBundle(bundles.finished, [encodeVerifierKey(stranger)]).verification_status).toBe("UNTRUSTED_KEY");
    expect(() => verifyProofBundle(bundles.finished, [])).toThrow(/at least one trusted verification key/);
    expect(() => verifyProofBundle({ hello: "world" }, vkeys)).toThrow(/not an AOS proof bundle/);
  });
});

describe("format v1 bundles, exported before format v2", () => {
  const fixture = JSON.parse(readFileSync(new URL("./fixtures/v1/rows.json", import.meta.url), "utf8"));
  const v1 = (name: string) => readFileSync(new URL(`./fixtures/v1/${name}.aosproof.json`, import.meta.url), "utf8");
  const key = (parseVerifierKey(fixture.vkey) as { ok: true; key: NoteVerifier }).key;

  it("keep verifying as v1, saying what v1 does not cover", () => {
    for (const name of ["untouched", "pruned"]) {
      const verdict = verify(v1(name), [key]) as VerdictJson;
      expect([name, verdict.verification_status, verdict.format]).toEqual([name, "VERIFIED", "aos-trace-v1"]);
      expect(verdict.not_covered).toMatch(/does not cover the run's own facts/);
    }
  });

  it("give a verdict, not a crash, for values v1 re-serialised and so cannot have hashed", () => {
    const text = v1("untouched");
    expect(text).toContain('"frac": 0.1');
    expect(verify(text.replace('"frac": 0.1', '"frac": 1e400'), [key])).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 0 });
    const deep = `${"[".repeat(200_000)}${"]".repeat(200_000)}`;
    expect(verify(text.replace('"frac": 0.1', `"frac": ${deep}`), [key])).toMatchObject({ verification_status: "USAGE", reason: expect.stringMatching(/nests deeper than 64 levels/) });
  });

  it("never trust the keys they name, and a malformed date is TAMPERED naming it", () => {
    const bundle = JSON.parse(v1("untouched"));
    const attacker = generateSigningKey("aos.local");
    bundle.verification_keys = [fixture.vkey, attacker.verifierKey];
    expect(verify(JSON.stringify(bundle), [attacker.verifier])).toMatchObject({ verification_status: "UNTRUSTED_KEY" });
    bundle.steps[1].completed_at = "2026-13-45T99:99:99.999Z";
    const verdict = verify(JSON.stringify(bundle), [key]) as VerdictJson;
    expect(verdict).toMatchObject({ verification_status: "TAMPERED", first_bad_seq: 1 });
    expect(verdict.failure_reason).toMatch(/steps\[1\]\.completed_at: not a canonical timestamp of a real date/);
  });
});

describe("`aos verify` as a user runs it", () => {
  const plan = {
    steps: [
      { step_id: "a", skill: "json_transform", params: { payload: { who: "Ada" }, mapping: { who: "who" } } },
      { step_id: "b", skill: "json_transform", params: { payload: { hi: "hello {{a.who}}" }, mapping: { hi: "hi" } } },
      { step_id: "c", skill: "json_transform", params: { payload: { n: 3 }, mapping: { n: "n" } } },
    ],
  };

  it("the README's proof walk: run, prove, export, verify offline, catch one changed byte, prove one step", { timeout: 120_000 }, async () => {
    const home = tempHome();
    const env = { AOS_HOME: home };
    const run = JSON.parse((await runCli(["run", "--tenant-id", "demo", "--goal", "walk", "--plan", writePlan(home, plan), "--json"], env)).stdout);
    expect(run.proof.verification_status).toBe("VERIFIED");
    const proof = await runCli(["proof", run.run_id, "--tenant-id", "demo"], env);
    expect([proof.code, proof.stdout.split("\n")[0]]).toEqual([0, `Proof for run ${run.run_id}: VERIFIED`]);
    const bundle = join(home, "run.aosproof.json");
    expect((await runCli(["export-proof", run.run_id, "--tenant-id", "demo", "-o", bundle], env)).code).toBe(0);
    const vkey = (await runCli(["keys"], env)).stdout.trim().split("\n")[0] as string;
    expect(vkey).toMatch(/^aos\.local\+[0-9a-f]{8}\+/);

    // Offline: no AOS_HOME that exists, and a DATABASE_URL that points nowhere.
    const offline = { AOS_HOME: join(home, "does-not-exist"), DATABASE_URL: "postgres://nobody@127.0.0.1:1/nothing" };
    const verified = await runCli(["verify", bundle, "--key", vkey], offline);
    expect([verified.code, verified.stdout.split("\n")[0]]).toEqual([0, `Proof for bundle ${bundle} (run ${run.run_id}): VERIFIED`]);
    const text = readFileSync(bundle, "utf8");
    const at = text.indexOf("hello Ada");
    writeFileSync(bundle, `${text.slice(0, at + 6)}B${text.slice(at + 7)}`);
    const tampered = await runCli(["verify", bundle, "--key", vkey], offline);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain("TAMPERED at seq 1");

    const stepProof = join(home, "step.tlog-proof");
    expect((await runCli(["prove-step", run.run_id, "--tenant-id", "demo", "--seq", "2", "-o", stepProof], env)).code).toBe(0);
    const step = await runCli(["verify-step", stepProof, "--key", vkey], offline);
    expect([step.code, step.stdout]).toEqual([0, expect.stringContaining("seq 2 of 4")]);
    writeFileSync(stepProof, readFileSync(stepProof, "utf8").replace("\nindex 2\n", "\nindex 1\n"));
    expect((await runCli(["verify-step", stepProof, "--key", vkey], offline)).code).toBe(1);
  });

  it("refuses with exit 2 and says how when there is no trusted key, or the file is not a bundle", { timeout: 60_000 }, async () => {
    const home = tempHome();
    const run = JSON.parse((await runCli(["run", "--tenant-id", "demo", "--goal", "keys", "--plan", writePlan(home, plan), "--json"], { AOS_HOME: home })).stdout);
    const bundle = join(home, "run.aosproof.json");
    await runCli(["export-proof", run.run_id, "--tenant-id", "demo", "-o", bundle], { AOS_HOME: home });
    const nowhere = { AOS_HOME: join(home, "no-keys-here") };
    const keyless = await runCli(["verify", bundle], nowhere);
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toMatch(/no trusted key: .*pass --key/);
    // The local key store is trusted without --key; so is AOS_VERIFIER_KEYS.
    expect((await runCli(["verify", bundle], { AOS_HOME: home })).code).toBe(0);
    const vkey = (await runCli(["keys"], { AOS_HOME: home })).stdout.trim().split("\n")[0] as string;
    expect((await runCli(["verify", bundle], { ...nowhere, AOS_VERIFIER_KEYS: vkey })).code).toBe(0);
    const notBundle = await runCli(["verify", new URL("../package.json", import.meta.url).pathname, "--key", vkey], nowhere);
    expect([notBundle.code, notBundle.stderr]).toEqual([2, expect.stringMatching(/not an AOS proof bundle/)]);
  });

  it("shows a bundle's text with its control and bidi characters escaped: a bundle cannot drive the terminal", { timeout: 60_000 }, async () => {
    const home = tempHome();
    const run = JSON.parse((await runCli(["run", "--tenant-id", "demo", "--goal", "escapes", "--plan", writePlan(home, plan), "--json"], { AOS_HOME: home })).stdout);
    const bundle = join(home, "run.aosproof.json");
    await runCli(["export-proof", run.run_id, "--tenant-id", "demo", "-o", bundle], { AOS_HOME: home });
    const vkey = (await runCli(["keys"], { AOS_HOME: home })).stdout.trim().split("\n")[0] as string;
    const parsed = JSON.parse(readFileSync(bundle, "utf8"));
    const hostile = `${run.run_id}\u001b]0;owned\u0007\u001b[2J\u202egnp.exe`;
    parsed.header = parsed.header
      .replace(`"run_id":"${run.run_id}"`, `"run_id":${JSON.stringify(hostile)}`)
      .replace(`"trace_id":"trace_${run.run_id}"`, `"trace_id":${JSON.stringify(`trace_${hostile}`)}`);
    writeFileSync(bundle, JSON.stringify(parsed));
    const shown = await runCli(["verify", bundle, "--key", vkey], { AOS_HOME: join(home, "absent") });
    expect(shown.code).toBe(1);
    expect(shown.stdout).toContain("\\x1b]0;owned\\x07\\x1b[2J\\u202egnp.exe");
    expect(shown.stdout + shown.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202a-\u202e]/);
  });

  it("takes a --key that is a vkey as that key, never as a file named like it; a file or folder otherwise", () => {
    const home = tempHome();
    // A key whose vkey does not end in "/" (then it could only name a folder).
    let ours = generateSigningKey("aos.local");
    while (ours.verifierKey.endsWith("/")) ours = generateSigningKey("aos.local");
    const theirs = generateSigningKey("aos.local");
    // A vkey's base64 may hold "/": a bundle shipped with folders can plant a file at that relative path.
    const planted = join(home, ours.verifierKey);
    mkdirSync(dirname(planted), { recursive: true });
    writeFileSync(planted, `${theirs.verifierKey}\n`);
    expect(pinnedKeys([ours.verifierKey]).map((key) => key.keyId)).toEqual([ours.verifier.keyId]);
    const file = join(home, "keys.txt");
    writeFileSync(file, `${ours.verifierKey}\n${theirs.verifierKey}\n`);
    expect(pinnedKeys([file]).map((key) => key.keyId)).toEqual([ours.verifier.keyId, theirs.verifier.keyId]);
    expect(() => pinnedKeys([home])).toThrow(expect.objectContaining({ code: "USAGE", message: expect.stringMatching(/^cannot read --key file .*: EISDIR/) }));
    expect(() => pinnedKeys(["nonsense"])).toThrow(expect.objectContaining({ code: "USAGE" }));
  });

  it("after `aos keys rotate`, a new bundle checked against the old published key is UNTRUSTED_KEY naming the new key", { timeout: 60_000 }, async () => {
    const home = tempHome();
    const env = { AOS_HOME: home };
    const runAndExport = async (name: string) => {
      const run = JSON.parse((await runCli(["run", "--tenant-id", "demo", "--goal", name, "--plan", writePlan(home, plan), "--json"], env)).stdout);
      const file = join(home, `${name}.aosproof.json`);
      await runCli(["export-proof", run.run_id, "--tenant-id", "demo", "-o", file], env);
      return file;
    };
    const before = await runAndExport("before");
    const oldKey = (await runCli(["keys"], env)).stdout.trim().split("\n")[0] as string;
    expect((await runCli(["keys", "rotate"], env)).code).toBe(0);
    const after = await runAndExport("after");
    const newKey = (await runCli(["keys"], env)).stdout.trim().split("\n")[0] as string;
    const offline = { AOS_HOME: join(home, "absent") };
    expect((await runCli(["verify", before, "--key", oldKey], offline)).code).toBe(0);
    const checked = await runCli(["verify", after, "--key", oldKey, "--json"], offline);
    expect(checked.code).toBe(1);
    const verdict = JSON.parse(checked.stdout);
    expect(verdict).toMatchObject({ verification_status: "UNTRUSTED_KEY", signing_keys: [newKey.split("+").slice(0, 2).join("+")] });
    expect((await runCli(["verify", after, "--key", newKey], offline)).code).toBe(0);
  });
});
