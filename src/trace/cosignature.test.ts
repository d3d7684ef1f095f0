import { createHash, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { describe, expect, test } from "vitest";
import {
  addCosignatures,
  cosignCheckpoint,
  encodeWitnessVerifierKey,
  generateWitnessKey,
  parseWitnessSignerKey,
  parseWitnessVerifierKey,
  verifyCosignatures,
  witnessKeyFromSeed,
  type WitnessCosignature,
} from "./cosignature.js";
import { openNote, readNoteSignatures, signingKeyFromSeed, signNote } from "./signed-note.js";

// Expected values are computed here with node:crypto and Buffer arithmetic from the spec's text, not with the
// module's own helpers, so a shared mistake (type byte, byte order, message layout) cannot pass on both sides.

const log = signingKeyFromSeed("log.example", Buffer.alloc(32, 7));
const BODY = `log.example/tenant/acme\n5\n${Buffer.alloc(32, 9).toString("base64")}\n`;
const NOTE = signNote(BODY, log.signer);
const w1 = witnessKeyFromSeed("witness.example/w1", Buffer.alloc(32, 1));
const w2 = witnessKeyFromSeed("witness.example/w2", Buffer.alloc(32, 2));
const T = 1_700_000_000;

/** An Ed25519 key made by node:crypto itself: its raw seed (JWK `d`) and public key (JWK `x`). */
function nodeKey(): { seed: Buffer; publicKey: Buffer; sign: (message: Buffer) => Buffer } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  return {
    seed: Buffer.from(jwk.d as string, "base64url"),
    publicKey: Buffer.from(jwk.x as string, "base64url"),
    sign: (message) => sign(null, message, privateKey),
  };
}

function expectedKeyId(name: string, publicKey: Buffer): string {
  const input = Buffer.concat([Buffer.from(`${name}\n`, "utf8"), Buffer.from([0x04]), publicKey]);
  return createHash("sha256").update(input).digest().subarray(0, 4).toString("hex");
}

function message(time: number | bigint, body: string): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${body}`, "utf8");
}

function statusOf(note: string, witnesses = [w1.verifier, w2.verifier]): WitnessCosignature[] {
  const result = verifyCosignatures(note, witnesses);
  if (!result.ok) throw new Error(result.reason);
  return result.witnesses;
}

function withLines(note: string, lines: string[]): string {
  const added = addCosignatures(note, lines);
  if (!added.ok) throw new Error(added.reason);
  return added.note;
}

describe("witness keys", () => {
  test("the key id hashes the name, a newline, the type byte 0x04 and the public key", () => {
    const key = nodeKey();
    const pair = witnessKeyFromSeed("witness.example/w1", key.seed);
    expect(pair.verifier.publicKey).toEqual(key.publicKey);
    expect(pair.verifier.keyId).toBe(expectedKeyId("witness.example/w1", key.publicKey));
    // The same key as a log's note key (0x01) has another id: the type byte separates the two uses.
    expect(signingKeyFromSeed("witness.example/w1", key.seed).verifier.keyId).not.toBe(pair.verifier.keyId);
  });

  test("travel as <name>+<id>+base64(0x04 ‖ key) and PRIVATE+KEY+<name>+<id>+base64(0x04 ‖ seed)", () => {
    const key = nodeKey();
    const pair = witnessKeyFromSeed("witness.example/w1", key.seed);
    const id = expectedKeyId("witness.example/w1", key.publicKey);
    expect(pair.verifierKey).toBe(`witness.example/w1+${id}+${Buffer.concat([Buffer.from([4]), key.publicKey]).toString("base64")}`);
    expect(pair.signerKey).toBe(`PRIVATE+KEY+witness.example/w1+${id}+${Buffer.concat([Buffer.from([4]), key.seed]).toString("base64")}`);
    expect(encodeWitnessVerifierKey(pair.verifier)).toBe(pair.verifierKey);
  });

  test("parse back to the same key", () => {
    const pair = generateWitnessKey("witness.example/w3");
    const verifier = parseWitnessVerifierKey(pair.verifierKey);
    const signer = parseWitnessSignerKey(pair.signerKey);
    expect(verifier).toEqual({ ok: true, key: pair.verifier });
    if (!signer.ok) throw new Error(signer.reason);
    expect(signer.key.keyId).toBe(pair.verifier.keyId);
    expect(signer.key.publicKey).toEqual(pair.verifier.publicKey);
  });

  test("refuse every other spelling, saying what is wrong", () => {
    const { verifierKey, signerKey } = w1;
    const [name, id, material] = [verifierKey.split("+")[0], verifierKey.split("+")[1], verifierKey.slice(verifierKey.indexOf("+", verifierKey.indexOf("+") + 1) + 1)];
    const bytes = Buffer.from(material as string, "base64");
    const cases: [string, RegExp][] = [
      [log.verifierKey, /signature type 0x01 \(0x01 is a log's note key/],
      [`${name}+00000000+${material}`, /hashes to/],
      [`${name}+${id?.toUpperCase()}+${material}`, /8 lowercase hex digits/],
      [`${name}+${id}+${Buffer.concat([bytes, Buffer.from([0])]).toString("base64")}`, /33 key bytes, not 32/],
      [`${name}+${id}+${material}=`, /canonical standard base64/],
      [`${name}+${id}+${(material as string).replace(/\+/g, "-").replace(/\//g, "_")}x`, /canonical standard base64/],
      [`a b+${id}+${material}`, /invalid key name/],
      [`${name}${id}${material}`, /has the form/],
    ];
    for (const [text, reason] of cases) expect(parseWitnessVerifierKey(text)).toEqual({ ok: false, reason: expect.stringMatching(reason) });
    expect(parseWitnessSignerKey(verifierKey)).toEqual({ ok: false, reason: expect.stringMatching(/starts with "PRIVATE\+KEY\+"/) });
    expect(parseWitnessSignerKey(log.signerKey)).toEqual({ ok: false, reason: expect.stringMatching(/type 0x01/) });
    expect(parseWitnessSignerKey(signerKey.replace(`+${w1.verifier.keyId}+`, "+00000000+"))).toEqual({ ok: false, reason: expect.stringMatching(/hashes to/) });
  });
});

describe("cosignCheckpoint", () => {
  test("writes — <name> base64(key id ‖ big-endian time ‖ Ed25519 over the cosignature/v1 message), checked by node:crypto", () => {
    const key = nodeKey();
    const pair = witnessKeyFromSeed("witness.example/w1", key.seed);
    const line = cosignCheckpoint(BODY, pair.signer, T);
    const match = /^\u2014 witness\.example\/w1 ([A-Za-z0-9+/=]+)\n$/.exec(line);
    expect(match).not.toBeNull();
    const blob = Buffer.from(match?.[1] as string, "base64");
    expect(blob.length).toBe(4 + 8 + 64);
    expect(blob.subarray(0, 4).toString("hex")).toBe(expectedKeyId("witness.example/w1", key.publicKey));
    expect(blob.subarray(4, 12)).toEqual(Buffer.from([0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00])); // 1_700_000_000
    const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: key.publicKey.toString("base64url") }, format: "jwk" });
    expect(verify(null, message(T, BODY), publicKey, blob.subarray(12))).toBe(true);
    expect(verify(null, Buffer.from(BODY), publicKey, blob.subarray(12))).toBe(false);
  });

  test("refuses a time that is no POSIX second, and text that is no checkpoint body", () => {
    for (const time of [-1, 1.5, Number.NaN, 2 ** 53]) expect(() => cosignCheckpoint(BODY, w1.signer, time)).toThrow(/POSIX time/);
    for (const body of ["a\nb\n", "a\n\nb\nc\n", "a\nb\nc"]) expect(() => cosignCheckpoint(body, w1.signer, T)).toThrow(/checkpoint body/);
  });
});

describe("verifyCosignatures", () => {
  test("accepts a cosignature made by node:crypto directly, and reports its time", () => {
    const key = nodeKey();
    const witness = witnessKeyFromSeed("witness.example/node", key.seed);
    const time = Buffer.alloc(8);
    time.writeBigUInt64BE(BigInt(T));
    const blob = Buffer.concat([Buffer.from(expectedKeyId("witness.example/node", key.publicKey), "hex"), time, key.sign(message(T, BODY))]);
    const note = withLines(NOTE, [`\u2014 witness.example/node ${blob.toString("base64")}\n`]);
    expect(statusOf(note, [witness.verifier])).toEqual([{ name: "witness.example/node", keyId: witness.verifier.keyId, status: "verified", timestamp: T }]);
  });

  test("says for each witness whether it cosigned, ignoring the log's signature and unknown keys", () => {
    const stranger = witnessKeyFromSeed("witness.example/w2", Buffer.alloc(32, 3)); // w2's name, another key
    const note = withLines(NOTE, [cosignCheckpoint(BODY, w1.signer, T), cosignCheckpoint(BODY, stranger.signer, T + 1)]);
    expect(statusOf(note)).toEqual([
      { name: "witness.example/w1", keyId: w1.verifier.keyId, status: "verified", timestamp: T },
      { name: "witness.example/w2", keyId: w2.verifier.keyId, status: "missing" },
    ]);
    // The log's signature still verifies: cosignatures are lines its verifier ignores.
    expect(openNote(note, [log.verifier])).toMatchObject({ ok: true, text: BODY });
  });

  test("reports a known witness's line that does not verify: another body, another time, a flipped bit", () => {
    const line = cosignCheckpoint(BODY, w1.signer, T);
    const otherBody = BODY.replace("\n5\n", "\n6\n");
    const blob = Buffer.from(line.slice(line.lastIndexOf(" ") + 1, -1), "base64");
    const retimed = Buffer.from(blob);
    retimed.writeBigUInt64BE(BigInt(T + 1), 4);
    const flipped = Buffer.from(blob);
    flipped[40] = (flipped[40] as number) ^ 1;
    const cases = [
      withLines(signNote(otherBody, log.signer), [line]),
      withLines(NOTE, [`\u2014 witness.example/w1 ${retimed.toString("base64")}\n`]),
      withLines(NOTE, [`\u2014 witness.example/w1 ${flipped.toString("base64")}\n`]),
      withLines(NOTE, [`\u2014 witness.example/w1 ${blob.subarray(0, 70).toString("base64")}\n`]),
    ];
    for (const note of cases) {
      expect(statusOf(note)[0]).toEqual({ name: "witness.example/w1", keyId: w1.verifier.keyId, status: "invalid", reason: expect.any(String) });
    }
    // A good line beside a bad one by the same key does not hide the bad one.
    expect(statusOf(withLines(cases[2] as string, [line]))[0]?.status).toBe("invalid");
  });

  test("refuses a timestamp past 2^53 - 1 as lying in the future, even when its signature verifies", () => {
    const key = nodeKey();
    const witness = witnessKeyFromSeed("witness.example/far", key.seed);
    const far = 2n ** 60n;
    const time = Buffer.alloc(8);
    time.writeBigUInt64BE(far);
    const blob = Buffer.concat([Buffer.from(witness.verifier.keyId, "hex"), time, key.sign(message(far, BODY))]);
    const note = withLines(NOTE, [`\u2014 witness.example/far ${blob.toString("base64")}\n`]);
    expect(statusOf(note, [witness.verifier])[0]).toMatchObject({ status: "invalid", reason: expect.stringMatching(/future/) });
  });

  test("reports a malformed note", () => {
    expect(verifyCosignatures(BODY, [w1.verifier])).toEqual({ ok: false, reason: expect.stringMatching(/malformed/) });
    expect(verifyCosignatures(`${NOTE}junk\n`, [w1.verifier])).toEqual({ ok: false, reason: expect.stringMatching(/malformed/) });
  });

  test("frames the spec's example cosignature as key id, then the time of its example message", () => {
    // c2sp.org/tlog-cosignature publishes no key for its example, so only the layout can be checked against it.
    const example =
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" +
      "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n" +
      "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    const parsed = readNoteSignatures(example);
    if (!parsed.ok) throw new Error(parsed.reason);
    const cosignature = parsed.lines[1];
    expect(cosignature?.keyId).toBe("8d66cf3f");
    expect(cosignature?.signature.length).toBe(8 + 64);
    expect(cosignature?.signature.readBigUInt64BE(0)).toBe(1679315147n);
    const unknown = witnessKeyFromSeed("witness.example.com/w1", Buffer.alloc(32, 5)).verifier;
    expect(statusOf(example, [unknown])[0]?.status).toBe("missing");
  });
});

describe("addCosignatures", () => {
  test("appends lines after the note's signatures, once each", () => {
    const a = cosignCheckpoint(BODY, w1.signer, T);
    const b = cosignCheckpoint(BODY, w2.signer, T);
    expect(withLines(NOTE, [a, b, a])).toBe(`${NOTE}${a}${b}`);
    expect(withLines(`${NOTE}${a}`, [a, b])).toBe(`${NOTE}${a}${b}`);
    expect(withLines(NOTE, [])).toBe(NOTE);
  });

  test("refuses a malformed note or line", () => {
    const line = cosignCheckpoint(BODY, w1.signer, T);
    expect(addCosignatures(BODY, [line])).toEqual({ ok: false, reason: expect.stringMatching(/note is malformed/) });
    for (const bad of [line.slice(0, -1), `${line}${line}`, line.replace("\u2014", "-"), "\u2014 w1 !!!!\n", "\n"]) {
      expect(addCosignatures(NOTE, [bad])).toEqual({ ok: false, reason: expect.stringMatching(/cosignature 1 is not one signature line/) });
    }
  });

  test("keeps a note within 100 signatures", () => {
    const lines = Array.from({ length: 99 }, (_, i) => cosignCheckpoint(BODY, w1.signer, i));
    expect(addCosignatures(NOTE, lines).ok).toBe(true);
    expect(addCosignatures(NOTE, [...lines, cosignCheckpoint(BODY, w1.signer, 1000)])).toEqual({ ok: false, reason: expect.stringMatching(/at most 100/) });
  });
});
