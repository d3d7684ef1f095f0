import { createHash, createPrivateKey, createPublicKey, randomBytes, sign as edSign } from "node:crypto";
import type { Config } from "../../src/config.js";
import { testConfig } from "./harness.js";
import { startTsa, startTsaServer, TestCa, type TestTsa, TSA_EXTENSIONS, type TsaServer } from "./timestamp-authority.js";

/**
 * Material for v3 bundles' tenant log (docs/proofs.md, "The bundle", steps 10 to 12): a configuration whose
 * tenant checkpoints a local TSA timestamps, cosignature lines added to a bundle's tenant checkpoint, and a witness
 * made with node:crypto alone from docs/witness.md and C2SP tlog-cosignature — so a test can check AOS's cosigner
 * against the spec, and write cosignatures AOS's own code refuses to (a time past 2^63 - 1).
 */
export interface V3Bundle {
  format: string;
  tenant_log: { index: number; entry: string; inclusion_proof: string[]; checkpoint: string; timestamp: string | null } | null;
  [member: string]: unknown;
}

/** The configuration of `config`'s home (same keys) with a TSA on loopback timestamping every tenant checkpoint. */
export async function timestampingConfig(config: Config): Promise<{ config: Config; tsa: TestTsa; server: TsaServer }> {
  const ca = TestCa.create("AOS Python Verifier Test CA");
  const tsa = startTsa(ca.issue("AOS Python Verifier Test TSA", { extensions: TSA_EXTENSIONS }));
  const server = await startTsaServer(tsa);
  const env = { AOS_HOME: config.home, AOS_TSA_URL: server.url, AOS_TSA_CERTS: ca.root.certFile, AOS_EGRESS_ALLOW: "127.0.0.1", AOS_TENANT_CHECKPOINT_EVERY: "1" };
  return { config: testConfig(env), tsa, server };
}

/** A signed note's text: up to and including the newline before the blank line that precedes its signatures. */
export function noteBody(note: string): string {
  return note.slice(0, note.lastIndexOf("\n\n") + 1);
}

/** The bundle with signature lines (each ending in a newline) appended to its tenant checkpoint. */
export function withTenantLines<T extends V3Bundle>(bundle: T, lines: string[]): T {
  const log = bundle.tenant_log as NonNullable<V3Bundle["tenant_log"]>;
  return { ...bundle, tenant_log: { ...log, checkpoint: `${log.checkpoint}${lines.join("")}` } };
}

/** The bundle as format v2 wrote it: the same without `tenant_log`. */
export function asV2(bundle: V3Bundle): Record<string, unknown> {
  const { tenant_log: _, ...rest } = bundle;
  return { ...rest, format: "aos-proof-bundle/v2" };
}

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const sha256 = (bytes: Buffer): Buffer => createHash("sha256").update(bytes).digest();

/**
 * A witness from an Ed25519 seed, per docs/witness.md: vkey `<name>+<key id>+base64(0x04 ‖ public key)` with key id
 * SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4]; a cosignature line `— <name> base64(key id ‖ 8-byte big-endian time ‖
 * Ed25519 signature of "cosignature/v1\ntime <time>\n" ‖ checkpoint body)`. `signedTime` lets a forger sign one time
 * and write another.
 */
export function independentWitness(name: string, seed: Buffer = randomBytes(32)) {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  const publicKey = Buffer.from(createPublicKey(privateKey).export({ format: "jwk" }).x as string, "base64url");
  const keyId = sha256(Buffer.concat([Buffer.from(`${name}\n`, "utf8"), Buffer.from([4]), publicKey])).subarray(0, 4);
  return {
    name,
    seed,
    vkey: `${name}+${keyId.toString("hex")}+${Buffer.concat([Buffer.from([4]), publicKey]).toString("base64")}`,
    cosign(body: string, time: bigint, signedTime: bigint = time): string {
      const written = Buffer.alloc(8);
      written.writeBigUInt64BE(time);
      const signature = edSign(null, Buffer.from(`cosignature/v1\ntime ${signedTime}\n${body}`, "utf8"), privateKey);
      return `— ${name} ${Buffer.concat([keyId, written, signature]).toString("base64")}\n`;
    },
    /** A plain signed-note (type 0x01) signature of the body by the same key and name: not a cosignature. */
    noteSignature(body: string): string {
      const noteKeyId = sha256(Buffer.concat([Buffer.from(`${name}\n`, "utf8"), Buffer.from([1]), publicKey])).subarray(0, 4);
      return `— ${name} ${Buffer.concat([noteKeyId, edSign(null, Buffer.from(body, "utf8"), privateKey)]).toString("base64")}\n`;
    },
  };
}
