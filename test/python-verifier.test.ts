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
import { checkpointTenantLog, runnerDeps, runToEnd, testConfig } from "./support/harness.js";
import { finishedRichRun, parkedRichRun, RICH_PLAN } from "./support/rich-run.js";
import { asV2, noteBody, timestampingConfig, type V3Bundle, withTenantLines } from "./support/tenant-log-bundles.js";
import { tempDir } from "./support/temp-dirs.js";
import { cosignCheckpoint, generateWitnessKey } from "../src/trace/cosignature.js";

/** What `aos verify` decides for a file: its function's verdict, or NOT_A_BUNDLE where it exits 2. */
function aosVerdict(text: string, verifiers: ReturnType<typeof loadVerifiers>): { status: string; seq: number | null; field: string | null } {
  try {
    const verdict = verifyBundleText(text, verifiers);
    return { status: verdict.verification_status, seq: verdict.first_bad_seq, field: verdict.field };
  } catch {
    return { status: "NOT_A_BUNDLE", seq: null, field: null };
  }
}

const ONE_STEP_PLAN = { steps: [{ step_id: "only", skill: "json_transform", params: { payload: { n: 1 }, mapping: { n: "n" } } }] };

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
    await pruneFinishedRuns(db, proofKeys(config), { olderThan: parseRetentionAge("1min"), tenantId: "t-py-pruned", dryRun: false, now: new Date(Date.now() + 3_600_000) });
    const parked = await parkedRichRun(db, config, "t-py-parked");
    // A run cancelled while queued: no step, only its run-end.
    const queued = await createRun(runnerDeps(db, config), { tenantId: "t-py", goal: "never ran", plan: RICH_PLAN });
    await cancelRun(db, runnerDeps(db, config).keys, "t-py", queued.id, config.leaseMs);
    // Later runs of the same tenant, so the finished run's audit path in its tenant's log has several hashes.
    for (let i = 0; i < 4; i++) await runToEnd(db, config, { tenantId: "t-py", goal: `a later run ${i}`, plan: ONE_STEP_PLAN });
    await checkpointTenantLog(db, config, "t-py");
    // A run whose tenant checkpoint a TSA timestamped, exported with its token.
    const timestamping = await timestampingConfig(config);
    const stamped = await runToEnd(db, timestamping.config, { tenantId: "t-py-tsa", goal: "timestamped", plan: RICH_PLAN });
    await timestamping.server.close();
    const runs: [string, string, string][] = [
      ["finished", "t-py", finished.runId],
      ["pruned", "t-py-pruned", pruned.runId],
      ["parked", "t-py-parked", parked.runId],
      ["cancelled while queued", "t-py", queued.id],
      ["timestamped", "t-py-tsa", stamped.run.id],
    ];
    const bundles: [string, object][] = [];
    for (const [name, tenantId, runId] of runs) bundles.push([name, await exportProofBundle(db, config, tenantId, runId)]);
    const finishedBundle = bundles[0]![1] as V3Bundle;
    expect(finishedBundle.tenant_log?.inclusion_proof.length).toBeGreaterThanOrEqual(2);
    expect((bundles[4]![1] as V3Bundle).tenant_log?.timestamp).toEqual(expect.any(String));
    // The finished run's tenant checkpoint cosigned by two witnesses (no witness policy here: the lines are ignored,
    // but a change that breaks the note is not), and the finished run as format v2 wrote it.
    const body = noteBody(finishedBundle.tenant_log!.checkpoint);
    const time = Math.floor(Date.now() / 1000);
    const cosignatures = ["witness.example/w1", "witness.example/w2"].map((name) => cosignCheckpoint(body, generateWitnessKey(name).signer, time));
    bundles.push(["cosigned", withTenantLines(finishedBundle, cosignatures)], ["v2", asV2(finishedBundle)]);
    for (const [name, bundle] of bundles) {
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
      const fieldsDiffer = ours.field !== null && theirs?.field !== null && ours.field !== theirs?.field;
      if (theirs === undefined || theirs.verification_status !== ours.status || (seqMatters && theirs.first_bad_seq !== ours.seq) || fieldsDiffer) {
        disagreements.push(`${what}: aos ${ours.status}@${ours.seq} (${ours.field}), python ${theirs?.verification_status}@${theirs?.first_bad_seq} (${theirs?.field})`);
      }
    }
    expect(disagreements).toEqual([]);
    // Every verdict was exercised, over thousands of bundles.
    expect([...seen].sort()).toEqual(["INCOMPLETE", "NOT_A_BUNDLE", "TAMPERED", "UNSUPPORTED", "UNTRUSTED_KEY", "VERIFIED"]);
    expect(files.length).toBeGreaterThan(1500);
  });

  it("changes every member of the tenant log, and every member of its entry, in the bundles compared above", () => {
    const changed = (prefix: string) => files.some(({ what }) => what.startsWith(prefix));
    const finished = JSON.parse((files.find(({ what }) => what === "finished: genuine") as { text: string }).text) as V3Bundle;
    const log = finished.tenant_log!;
    const paths = [
      ...Object.keys(log).map((member) => `finished: tenant_log.${member} `),
      ...Object.keys(JSON.parse(log.entry) as object).map((member) => `finished: tenant_log.entry → ${member} `),
      ...log.inclusion_proof.map((_, index) => `finished: tenant_log.inclusion_proof[${index}] `),
      "finished: tenant_log.inclusion_proof reversed",
      "timestamped: tenant_log.timestamp one character changed",
      "cosigned: tenant_log.checkpoint one character changed",
      "v2: format one character changed",
    ];
    expect(paths.filter((prefix) => !changed(prefix))).toEqual([]);
    expect(Object.keys(log)).toEqual(["index", "entry", "inclusion_proof", "checkpoint", "timestamp"]);
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

  it("holds a re-signed bundle's tenant log to the spec, where no hash can: origin, entry, index, signature lines, in both", { timeout: 60_000 }, async () => {
    const genuine = files.find(({ what }) => what === "finished: genuine") as { text: string };
    const bundle = JSON.parse(genuine.text);
    const tenantId = (JSON.parse(bundle.header) as { tenant_id: string }).tenant_id;
    const signer = forgingSigner("aos.local");
    const stranger = forgingSigner("aos.local");
    const withTenant = (next: string) => (record: string) => record.replace(`"tenant_id":"${tenantId}"`, `"tenant_id":${JSON.stringify(next)}`);
    const odd = withTenant("acme corp/é");
    const linesOf = (note: string, body: string) => note.slice(body.length + 1);
    const reordered = (entry: string) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(entry) as object).reverse()));
    const cases: [string, string, string, string | null][] = [
      ["re-signed unchanged, entry 1 of 3", resigned(bundle, signer), "VERIFIED", null],
      ["a tenant id with a space, a slash and é, its origin percent-encoded", resigned(bundle, signer, odd), "VERIFIED", null],
      ["that tenant's origin written raw", resigned(bundle, signer, odd, undefined, { origin: (t) => `aos.local/tenant/${t}` }), "TAMPERED", "tenant_log.checkpoint"],
      ["that tenant's origin percent-encoded in lower case", resigned(bundle, signer, odd, undefined, { origin: (t) => `aos.local/tenant/${encodeURIComponent(t).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase())}` }), "TAMPERED", "tenant_log.checkpoint"],
      ["a tenant origin of another tenant", resigned(bundle, signer, undefined, undefined, { origin: () => "aos.local/tenant/other" }), "TAMPERED", "tenant_log.checkpoint"],
      ["a tenant origin under another key name", resigned(bundle, signer, undefined, undefined, { origin: (t) => `other.example/tenant/${t}` }), "TAMPERED", "tenant_log.checkpoint"],
      ["an extension line on the tenant checkpoint", resigned(bundle, signer, undefined, undefined, { extra: "ext\n" }), "TAMPERED", "tenant_log.checkpoint"],
      ["the tenant checkpoint's size written 03", resigned(bundle, signer, undefined, undefined, { size: () => "03" }), "TAMPERED", "tenant_log.checkpoint"],
      ["the entry placed at index 2 of 3", resigned(bundle, signer, undefined, undefined, { index: 2 }), "TAMPERED", "tenant_log.inclusion_proof"],
      ["the entry placed at index 3 of 3", resigned(bundle, signer, undefined, undefined, { index: 3 }), "TAMPERED", "tenant_log.index"],
      ["the entry's tree_size written 10.0", resigned(bundle, signer, undefined, undefined, { entry: (e) => e.replace(/"tree_size":(\d+)/, '"tree_size":$1.0') }), "TAMPERED", "tenant_log.entry.tree_size"],
      ["the entry with its status given twice", resigned(bundle, signer, undefined, undefined, { entry: (e) => `{"status":"failed",${e.slice(1)}` }), "TAMPERED", "tenant_log.entry"],
      ["the entry with a member added", resigned(bundle, signer, undefined, undefined, { entry: (e) => `${e.slice(0, -1)},"zz":1}` }), "TAMPERED", "tenant_log.entry.zz"],
      ["the entry of format aos-trace-v1", resigned(bundle, signer, undefined, undefined, { entry: (e) => e.replace('"format":"aos-trace-v2"', '"format":"aos-trace-v1"') }), "TAMPERED", "tenant_log.entry.format"],
      ["the entry's members in reverse order (not canonical JSON)", resigned(bundle, signer, undefined, undefined, { entry: reordered }), "VERIFIED", null],
      ["the tenant checkpoint's signature line twice", resigned(bundle, signer, undefined, undefined, { sign: (body, signed) => `${signed}${linesOf(signed, body)}` }), "VERIFIED", null],
      ["the tenant checkpoint also signed by an untrusted key of the same name", resigned(bundle, signer, undefined, undefined, { sign: (body, signed) => `${signed}${linesOf(stranger.sign(body), body)}` }), "VERIFIED", null],
      ["the tenant checkpoint signed only by an untrusted key of the same name", resigned(bundle, signer, undefined, undefined, { sign: (body) => stranger.sign(body) }), "UNTRUSTED_KEY", "tenant_log.checkpoint"],
      ["the tenant checkpoint signed by the trusted key over other text", resigned(bundle, signer, undefined, undefined, { sign: (body) => `${body}${linesOf(signer.sign(`${body}x\n`), `${body}x\n`)}` }), "TAMPERED", "tenant_log.checkpoint"],
      ["the tenant checkpoint without a signature line", resigned(bundle, signer, undefined, undefined, { sign: (body) => body }), "TAMPERED", "tenant_log.checkpoint"],
    ];
    const written = cases.map(([, text], index) => {
      const file = join(dir, `resigned-tenant-${index}.json`);
      writeFileSync(file, text);
      return file;
    });
    const python = await runPython(written, signer.vkey);
    const trusted = loadVerifiers(testConfig({ AOS_VERIFIER_KEYS: signer.vkey }));
    const seen = cases.map(([what, text], index) => {
      const ours = verifyBundleText(text, trusted);
      const theirs = python[index] as PythonVerdict;
      return [what, ours.verification_status, ours.first_bad_seq, ours.field, theirs.verification_status, theirs.first_bad_seq, theirs.field];
    });
    expect(seen).toEqual(cases.map(([what, , status, field]) => [what, status, null, field, status, null, field]));
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
