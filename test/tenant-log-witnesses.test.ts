import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import { cosignaturesOf } from "../src/db/queries/tenant-checkpoints.js";
import { silentLogger } from "../src/logger.js";
import { exportProofBundle } from "../src/services/proofs.js";
import { configuredWitnesses, submitToWitnesses } from "../src/tenant-log/witnesses.js";
import type { WitnessVerifier } from "../src/trace/cosignature.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { encodeVerifierKey } from "../src/trace/signed-note.js";
import { leafHashOf } from "../src/trace/merkle.js";
import { MerkleLevels } from "../src/trace/merkle-nodes.js";
import { signTenantCheckpoint, tenantLogOrigin } from "../src/trace/tenant-checkpoint.js";
import { encodeTenantLogEntry, parseTenantLogEntry } from "../src/trace/tenant-log-entry.js";
import { verifyBundleText } from "../src/trace/verify-bundle.js";
import { submitCheckpoint } from "../src/witness/client.js";
import { type CliChild, tempHome } from "./support/cli.js";
import { testBackends, type TestDatabase } from "./support/databases.js";
import { runToEnd, testConfig } from "./support/harness.js";
import { asSuperuser } from "./support/tamper.js";
import { tempDir } from "./support/temp-dirs.js";
import { listening, serveWitness, witnessKey } from "./support/witness-processes.js";

const PLAN = { steps: [{ step_id: "a", skill: "json_transform", params: { payload: { x: 1 }, mapping: { x: "x" } } }] };
const TENANT = "acme corp";

/**
 * The witness scenario end to end: AOS's own log side (the sequencer signing tenant checkpoints and
 * submitting them to AOS_WITNESSES) against two `aos witness serve` processes; then an operator who holds the log
 * key forks the log — a second, different checkpoint of the same size — and submits it through the same code.
 */
describe("a tenant log with two witness processes", () => {
  const backend = testBackends()[0]!;
  const home = tempHome();
  const cliEnv = { AOS_HOME: tempHome() };
  const witnesses: { process: CliChild; verifier: WitnessVerifier; vkey: string; url: string }[] = [];
  let config: Config;
  let db: TestDatabase;
  const runIds: string[] = [];

  beforeAll(async () => {
    const logVkey = encodeVerifierKey(loadKeyRing(testConfig({ AOS_HOME: home })).signer);
    for (const name of ["witness.example/w1", "witness.example/w2"]) {
      const { keyFile, verifier, vkey } = await witnessKey(name, cliEnv);
      const process = serveWitness(keyFile, tempDir("aos-witness-state"), logVkey, cliEnv);
      witnesses.push({ process, verifier, vkey, url: await listening(process) });
    }
    config = testConfig({
      AOS_HOME: home,
      AOS_EGRESS_ALLOW: "127.0.0.1",
      AOS_WITNESSES: witnesses.map((w) => `${w.url} ${w.vkey}`).join(","),
      AOS_TENANT_CHECKPOINT_EVERY: "1",
    });
    db = await backend.open();
    for (let i = 0; i < 3; i++) runIds.push((await runToEnd(db, config, { tenantId: TENANT, goal: `run ${i}`, plan: PLAN })).run.id);
  }, 60_000);

  afterAll(async () => {
    await db?.close();
    for (const { process } of witnesses) {
      process.child.kill("SIGTERM");
      await process.exited;
    }
  });

  const policy = (threshold: number) => ({ witnesses: witnesses.map((w) => w.verifier), threshold });
  const verify = async (runId: string, threshold: number) => verifyBundleText(JSON.stringify(await exportProofBundle(db, config, TENANT, runId)), loadKeyRing(config).verifiers, policy(threshold));

  it("each checkpoint is cosigned by both witnesses, and a bundle meets a 2-of-2 policy", async () => {
    for (const size of [1, 2, 3]) expect((await cosignaturesOf(db.pool, TENANT, size)).map((c) => c.witness).sort()).toEqual(witnesses.map((w) => `${w.verifier.name}+${w.verifier.keyId}`).sort());
    const verdict = await verify(runIds[2]!, 2);
    expect(verdict).toMatchObject({ verification_status: "VERIFIED", tenant_log: { state: "included", index: 2, tree_size: 3 } });
    expect(verdict.tenant_log?.witnessed_by).toHaveLength(2);
  });

  it("an operator's fork of the same size is refused by both witnesses, and a bundle from it fails a 1-of-2 policy", async () => {
    // The operator rewrites run 0's entry, rebuilds the tree, and signs a second checkpoint of size 3 with the log key.
    const { rows } = await db.pool.query("select entry from aos_tenant_log_entries where tenant_id = $1 order by idx", [TENANT]);
    const entries: Buffer[] = rows.map((row: { entry: Buffer }) => Buffer.from(row.entry));
    const first = parseTenantLogEntry(entries[0]!);
    if (!first.ok) throw new Error("entry does not parse");
    entries[0] = encodeTenantLogEntry({ ...first.value, status: "failed" });
    const tree = new MerkleLevels(entries.map((entry) => leafHashOf(entry)));
    const keys = loadKeyRing(config);
    const forked = signTenantCheckpoint({ origin: tenantLogOrigin(keys.signer.name, TENANT), treeSize: 3, root: tree.root() }, keys.signer);
    const nodes = [0, 1].flatMap((level) => Array.from({ length: Math.floor(3 / 2 ** level) }, (_, index) => [level, index, tree.lookup({ level, index })] as const));
    await asSuperuser(
      db,
      ["delete from aos_tenant_checkpoint_cosignatures where tenant_id = $1 and tree_size = 3", [TENANT]],
      ["delete from aos_tenant_checkpoints where tenant_id = $1 and tree_size = 3", [TENANT]],
      ["insert into aos_tenant_checkpoints (tenant_id, tree_size, root, note) values ($1, 3, $2, $3)", [TENANT, tree.root(), forked]],
      ["update aos_tenant_log_entries set entry = $2 where tenant_id = $1 and idx = 0", [TENANT, entries[0]]],
      ["delete from aos_tenant_log_nodes where tenant_id = $1", [TENANT]],
      ...nodes.map(([level, index, hash]): [string, unknown[]] => ["insert into aos_tenant_log_nodes (tenant_id, level, idx, hash) values ($1, $2, $3, $4)", [TENANT, level, index, hash]]),
      ["update aos_tenant_logs set root = $2 where tenant_id = $1", [TENANT, tree.root()]],
    );
    // Both witnesses, asked directly, refuse the same-size fork; through AOS's own submission, none cosigns it.
    const egress = { openings: config.egressOpenings, narrowTo: [] };
    for (const witness of witnesses) {
      const answer = await submitCheckpoint(witness.url, { oldSize: 3, consistencyProof: [], note: forked }, { egress });
      expect(answer).toMatchObject({ ok: false, status: 409 });
    }
    await submitToWitnesses(db, config, configuredWitnesses(config), { tenantId: TENANT, treeSize: 3, note: forked }, silentLogger);
    expect(await cosignaturesOf(db.pool, TENANT, 3)).toEqual([]);
    // Run 2's bundle from the forked log: its own trace is genuine, its tenant checkpoint signed by the log key.
    expect((await verify(runIds[2]!, 1)).verification_status).toBe("UNWITNESSED");
    const noPolicy = verifyBundleText(JSON.stringify(await exportProofBundle(db, config, TENANT, runIds[2]!)), keys.verifiers);
    expect(noPolicy.verification_status).toBe("VERIFIED");
  });
});
