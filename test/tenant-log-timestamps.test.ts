import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportProofBundle } from "../src/services/proofs.js";
import type { ProofBundle } from "../src/trace/bundle.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { verifyBundleText } from "../src/trace/verify-bundle.js";
import { testBackends, type TestDatabase } from "./support/databases.js";
import { runToEnd, testConfig } from "./support/harness.js";
import { startTsa, startTsaServer, TestCa, TSA_EXTENSIONS, type TsaServer } from "./support/timestamp-authority.js";
import { tempDir } from "./support/temp-dirs.js";

const PLAN = { steps: [{ step_id: "a", skill: "json_transform", params: { payload: { x: 1 }, mapping: { x: "x" } } }] };

/**
 * External time end to end: AOS_TSA_URL names a local TSA (`openssl ts -reply` behind node:http, reached through the
 * egress floor's opening for loopback); each tenant checkpoint the sequencer signs is timestamped, the token is
 * carried in the bundle, and a verifier with the TSA's root certificate reads its time offline.
 */
describe("tenant checkpoints timestamped by a configured TSA", () => {
  const backend = testBackends()[0]!;
  const ca = TestCa.create("AOS Log Test Root");
  const other = TestCa.create("Someone Else's Root");
  let tsa: TsaServer;
  let db: TestDatabase;
  let bundle: ProofBundle;
  let config: ReturnType<typeof testConfig>;

  beforeAll(async () => {
    tsa = await startTsaServer(startTsa(ca.issue("AOS Log Test TSA", { extensions: TSA_EXTENSIONS })));
    const certs = join(tempDir("aos-tsa-certs"), "root.pem");
    writeFileSync(certs, ca.root.pem);
    config = testConfig({ AOS_EGRESS_ALLOW: "127.0.0.1", AOS_TSA_URL: tsa.url, AOS_TSA_CERTS: certs });
    db = await backend.open();
    const run = await runToEnd(db, config, { tenantId: "acme", goal: "stamp me", plan: PLAN });
    bundle = (await exportProofBundle(db, config, "acme", run.run.id)) as ProofBundle;
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await tsa?.close();
  });

  const verify = (text: string, tsaCertificates: string[]) => verifyBundleText(text, loadKeyRing(config).verifiers, { witnesses: [], threshold: 0, tsaCertificates });

  it("carries the checkpoint's token, whose time a verifier holding the TSA's root reads offline", () => {
    expect(bundle.tenant_log?.timestamp).toEqual(expect.any(String));
    const verdict = verify(JSON.stringify(bundle), [ca.root.pem]);
    expect(verdict).toMatchObject({ verification_status: "VERIFIED", tenant_log: { state: "included", timestamp: expect.any(String) } });
    expect(Math.abs(Date.parse(verdict.tenant_log!.timestamp!) - Date.now())).toBeLessThan(120_000);
    // Without certificates the token is still held to this checkpoint, but its time is no evidence: not reported.
    expect(verify(JSON.stringify(bundle), [])).toMatchObject({ verification_status: "VERIFIED", tenant_log: { timestamp: null } });
  });

  it("a token from a TSA the verifier does not trust, or over other bytes, is TAMPERED naming it", async () => {
    expect(verify(JSON.stringify(bundle), [other.root.pem])).toMatchObject({ verification_status: "TAMPERED", field: "tenant_log.timestamp" });
    const second = await runToEnd(db, config, { tenantId: "acme", goal: "stamp me again", plan: PLAN });
    const later = (await exportProofBundle(db, config, "acme", second.run.id)) as ProofBundle;
    // The first checkpoint's token moved onto the second's: it stamps other bytes.
    const swapped = { ...later, tenant_log: { ...later.tenant_log!, timestamp: bundle.tenant_log!.timestamp } };
    expect(verify(JSON.stringify(swapped), [ca.root.pem])).toMatchObject({ verification_status: "TAMPERED", field: "tenant_log.timestamp" });
    expect(verify(JSON.stringify(swapped), [])).toMatchObject({ verification_status: "TAMPERED", field: "tenant_log.timestamp" });
  });
});
