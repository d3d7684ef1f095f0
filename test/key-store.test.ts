import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { loadKeyRing, loadVerifiers, rotateSigningKey } from "../src/trace/key-store.js";
import { encodeVerifierKey, generateSigningKey } from "../src/trace/signed-note.js";
import { tempHome } from "./support/cli.js";

describe("the signing key store", () => {
  it("creates the signing key on first use, readable by its owner only, and reuses it", () => {
    const home = tempHome();
    const config = loadConfig({ AOS_HOME: home });
    expect(loadVerifiers(config)).toEqual([]);
    const first = loadKeyRing(config);
    expect(statSync(join(home, "keys", "signing.key")).mode & 0o777).toBe(0o600);
    expect(loadKeyRing(config).signer.keyId).toBe(first.signer.keyId);
    expect(loadVerifiers(config).map(encodeVerifierKey)).toEqual([encodeVerifierKey(first.signer)]);
  });

  it("keeps old verification keys trusted after a rotation", () => {
    const config = loadConfig({ AOS_HOME: tempHome() });
    const old = loadKeyRing(config).signer;
    const fresh = rotateSigningKey(config);
    const ring = loadKeyRing(config);
    expect(encodeVerifierKey(ring.signer)).toBe(fresh);
    expect(ring.signer.keyId).not.toBe(old.keyId);
    expect(ring.verifiers.map((key) => key.keyId)).toEqual(expect.arrayContaining([old.keyId, ring.signer.keyId]));
  });

  it("takes the key from AOS_SIGNING_KEY without writing it anywhere, and refuses a malformed one", () => {
    const home = tempHome();
    const pair = generateSigningKey("fleet.example");
    const config = loadConfig({ AOS_HOME: home, AOS_SIGNING_KEY: pair.signerKey });
    expect(loadKeyRing(config).signer.keyId).toBe(pair.verifier.keyId);
    expect(() => statSync(join(home, "keys"))).toThrow();
    expect(() => rotateSigningKey(config)).toThrow(/AOS_SIGNING_KEY/);
    expect(() => loadKeyRing(loadConfig({ AOS_HOME: home, AOS_SIGNING_KEY: "not-a-key" }))).toThrow(/not a C2SP private key/);
  });
});
