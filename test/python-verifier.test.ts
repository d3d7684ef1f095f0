import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cancelRun } from "../src/services/run-decisions.js";
import { proofKeys } from "../src/services/proof-keys.js";
import { exportProofBundle } from "../src/services/proofs.js";
import { parseRetentionAge, pruneFinishedRuns } from "../src/services/retention.js";
import { createRun } from "../src/services/runs.js";
import { loadVerifiers } from "../src/trace/key-store.js";
import { encodeVerifierKey } from "../src/trace/signed-note.js";
import { verifyBundleText } from "../src/trace/verify-bundle.js";
import { bundleMutations } from "./support/bundle-mutations.js";
import { forgingSigner, rehashedBundles, resigned } from "./support/rehashed-bundles.js";
import { runCli } from "./support/cli.js";
import { type PythonVerdict, runPython } from "./support/python-verifier.js";
import { testBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, testConfig } from "./support/harness.js";
import { finishedRichRun, parkedRichRun, RICH_PLAN } from "./support/rich-run.js";
import { tempDir } from "./support/temp-dirs.js";

/** What `aos verify` decides for a file: its function's verdict, or NOT_A_BUNDLE where it exits 2. */
function aosVerdict(text: string, verifiers: ReturnType<typeof loadVerifiers>): { status: string; seq: number | null } {
  try {
    const verdict = verifyBundleText(text, verifiers);
    return { status: verdict.verification_status, seq: verdict.first_bad_seq };
  } catch {
    return { status: "NOT_A_BUNDLE", seq: null };
  }
}

/**
 * verifiers/python/aos_verify.py is a second verifier, written from docs/proofs.md alone with Python's standard
 * library (its own Ed25519, Merkle tree and parsing). The tests that check AOS's proofs with AOS's own hashing
 * cannot catch a field that hashing leaves out; this can: on genuine bundles and on every single change of them,
 * it must say what `aos verify` says — the same verdict, at the same seq.
 */
describe("the independent Python verifier", () => {
  const backend = testBackends()[0]!;
  const config = testConfig();
  const dir = tempDir("aos-python-verifier");
  let db: TestDatabase;
  const files: { file: string; text: string; what: string }[] = [];
  let vkey: string;

  beforeAll(async () => {
    db = await backend.open();
    const finished = await finishedRichRun(db, config, "t-py");
    const pruned = await finishedRichRun(db, config, "t-py-pruned");
    await pruneFinishedRuns(db, proofKeys(config), { olderThan: parseRetentionAge("1m"), tenantId: "t-py-pruned", dryRun: false, now: new Date(Date.now() + 3_600_000) });
    const parked = await parkedRichRun(db, config, "t-py-parked");
    // A run cancelled while queued: no step, only its run-end.
    const queued = await createRun(runnerDeps(db, config), { tenantId: "t-py", goal: "never ran", plan: RICH_PLAN });
    await cancelRun(db, runnerDeps(db, config).keys, "t-py", queued.id, config.leaseMs);
    const runs: [string, string, string][] = [
      ["finished", "t-py", finished.runId],
      ["pruned", "t-py-pruned", pruned.runId],
      ["parked", "t-py-parked", parked.runId],
      ["cancelled while queued", "t-py", queued.id],
    ];
    for (const [name, tenantId, runId] of runs) {
      const bundle = await exportProofBundle(db, config, tenantId, runId);
      const genuine = JSON.stringify(bundle, null, 2);
      files.push({ file: join(dir, `${files.length}.json`), text: genuine, what: `${name}: genuine` });
      for (const mutation of bundleMutations(bundle)) files.push({ file: join(dir, `${files.length}.json`), text: mutation.text, what: `${name}: ${mutation.what}` });
      for (const forged of rehashedBundles(bundle as never)) files.push({ file: join(dir, `${files.length}.json`), text: forged.text, what: `${name}: re-hashed: ${forged.what}` });
    }
    files.push({ file: join(dir, "not-json.json"), text: "not json", what: "not JSON" }, { file: join(dir, "package.json"), text: '{"name":"aos"}', what: "not a bundle" });
    for (const { file, text } of files) writeFileSync(file, text);
    vkey = encodeVerifierKey(loadVerifiers(config)[0]!);
  });
  afterAll(async () => db?.close());

  it("agrees with `aos verify` on every genuine bundle and every single change of it: verdict and seq", { timeout: 240_000 }, async () => {
    const verifiers = loadVerifiers(config);
    const python = new Map<string, PythonVerdict>();
    // In batches, so the command line stays short.
    for (let start = 0; start < files.length; start += 400) {
      for (const verdict of await runPython(files.slice(start, start + 400).map(({ file }) => file), vkey)) python.set(verdict.file, verdict);
    }
    const disagreements: string[] = [];
    const seen = new Set<string>();
    for (const { file, text, what } of files) {
      const ours = aosVerdict(text, verifiers);
      const theirs = python.get(file);
      seen.add(ours.status);
      const seqMatters = ours.status === "TAMPERED";
      if (theirs === undefined || theirs.verification_status !== ours.status || (seqMatters && theirs.first_bad_seq !== ours.seq)) {
        disagreements.push(`${what}: aos ${ours.status}@${ours.seq}, python ${theirs?.verification_status}@${theirs?.first_bad_seq} (${theirs?.field})`);
      }
    }
    expect(disagreements).toEqual([]);
    // Every verdict was exercised, over thousands of bundles.
    expect([...seen].sort()).toEqual(["INCOMPLETE", "NOT_A_BUNDLE", "TAMPERED", "UNSUPPORTED", "VERIFIED"]);
    expect(files.length).toBeGreaterThan(1500);
  });

  it("refuses records and files no signer writes even where no hash catches them, as the spec says, both alike", { timeout: 120_000 }, async () => {
    const verifiers = loadVerifiers(config);
    const forged = files.filter(({ what }) => what.includes(": re-hashed: "));
    const python = await runPython(forged.map(({ file }) => file), vkey);
    const seen = forged.map(({ text, what }, index) => {
      let ours: { status: string; seq: number | null; field: string | null };
      try {
        const verdict = verifyBundleText(text, verifiers);
        ours = { status: verdict.verification_status, seq: verdict.first_bad_seq, field: verdict.field };
      } catch {
        ours = { status: "NOT_A_BUNDLE", seq: null, field: null };
      }
      const theirs = python[index] as PythonVerdict;
      return { what, ours, theirs: { status: theirs.verification_status, seq: theirs.first_bad_seq, field: theirs.field } };
    });
    for (const { what, ours, theirs } of seen) {
      expect([what, ours]).toEqual([what, theirs]);
      const expected = what.endsWith("nested 65 deep in all") ? "NOT_A_BUNDLE" : "TAMPERED";
      expect([what, ours.status]).toEqual([what, expected]);
    }
    // The unsigned bundle's forged records are named at their own seq: nothing else could catch them there.
    const parked = seen.filter(({ what }) => what.startsWith("parked: re-hashed: steps["));
    expect(parked.length).toBeGreaterThanOrEqual(4);
    for (const { what, ours } of parked) expect(ours.field?.startsWith(`${/steps\[\d+\]/.exec(what)?.[0]}.header`)).toBe(true);
    const sizes = seen.filter(({ what }) => what.includes("tree size"));
    expect(sizes.map(({ ours }) => [ours.field, ours.seq])).toEqual(sizes.map(() => ["checkpoint", null]));
  });

  it("holds a bundle re-hashed and re-signed by a trusted key to the spec: origin, integers, characters, in both", { timeout: 60_000 }, async () => {
    const genuine = files.find(({ what }) => what === "finished: genuine") as { text: string };
    const bundle = JSON.parse(genuine.text);
    const runId = (JSON.parse(bundle.header) as { run_id: string }).run_id;
    const signer = forgingSigner("aos.local");
    const withRunId = (next: string) => (record: string) => record.replaceAll(`"run_id":"${runId}"`, `"run_id":${JSON.stringify(next)}`).replace(`"trace_id":"trace_${runId}"`, `"trace_id":${JSON.stringify(`trace_${next}`)}`);
    const cases: [string, string, string | null][] = [
      ["re-signed unchanged", resigned(bundle, signer), null],
      ["origin under another name", resigned(bundle, signer, undefined, (id) => `other.example/aos.local/run/${id}`), "checkpoint"],
      ["origin of another signer's log", resigned(bundle, signer, undefined, (id) => `other.example/run/${id}`), "checkpoint"],
      ["origin naming the run twice", resigned(bundle, signer, undefined, (id) => `aos.local/run/${id}/run/${id}`), "checkpoint"],
      ["integers written 1.0 and 0e0", resigned(bundle, signer, (record) => record.replace(/"cost_cents":(\d+)/, '"cost_cents":$1.0').replace('"seq":0,', '"seq":0e0,')), "header"],
      ["a control character in the run id, so in the origin", resigned(bundle, signer, withRunId(`${runId}\u0001`)), "checkpoint"],
      ["a tab in the run id, so in the origin", resigned(bundle, signer, withRunId(`${runId}\t`)), "checkpoint"],
    ];
    const written = cases.map(([, text], index) => {
      const file = join(dir, `resigned-${index}.json`);
      writeFileSync(file, text);
      return file;
    });
    const python = await runPython(written, signer.vkey);
    const trusted = loadVerifiers(testConfig({ AOS_VERIFIER_KEYS: signer.vkey }));
    for (const [index, [what, text, field]] of cases.entries()) {
      const ours = verifyBundleText(text, trusted);
      const expected = field === null ? "VERIFIED" : "TAMPERED";
      expect([what, ours.verification_status]).toEqual([what, expected]);
      if (field !== null) expect([what, ours.field]).toEqual([what, expect.stringContaining(field)]);
      expect([what, python[index]?.verification_status, python[index]?.first_bad_seq, python[index]?.field]).toEqual([what, expected, ours.first_bad_seq, ours.field]);
    }
  });

  it("agrees with the `aos verify` command itself, run as a process, on a sample", { timeout: 120_000 }, async () => {
    const sample = files.filter((_, index) => index % 97 === 0).slice(0, 12);
    const python = await runPython(sample.map(({ file }) => file), vkey);
    for (const [index, { file, what }] of sample.entries()) {
      const cli = await runCli(["verify", file, "--key", vkey, "--json"], { AOS_HOME: join(dir, "no-home") });
      const status = cli.code === 2 ? "NOT_A_BUNDLE" : (JSON.parse(cli.stdout) as { verification_status: string }).verification_status;
      expect([what, status]).toEqual([what, python[index]?.verification_status]);
      expect(cli.code).toBe(status === "VERIFIED" ? 0 : status === "NOT_A_BUNDLE" ? 2 : 1);
    }
  });
});
