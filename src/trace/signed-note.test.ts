import { describe, expect, test } from "vitest";
import {
  encodeVerifierKey,
  generateSigningKey,
  isValidKeyName,
  keyIdFor,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signingKeyFromSeed,
  signNote,
  verifierFromPublicKey,
  type NoteSigner,
  type NoteVerifier,
  type OpenedNote,
} from "./signed-note.js";

// Test data (not code) from the reference implementation's tests, golang/mod sumdb/note/note_test.go
// (golang.org/x/mod/sumdb/note): the PeterNeumann and EnochRoot keys, the note text, their signature lines,
// the mangled keys and the malformed notes. Ed25519 is deterministic, so signing must reproduce them exactly.
const PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIGNATURE = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
const ENOCH_SIGNATURE = "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=";
const PETER_SIG = `— PeterNeumann ${PETER_SIGNATURE}\n`;
const ENOCH_SIG = `— EnochRoot ${ENOCH_SIGNATURE}\n`;

function key<T>(result: { ok: true; key: T } | { ok: false; reason: string }): T {
  if (!result.ok) throw new Error(`expected a key, got: ${result.reason}`);
  return result.key;
}

const peter: NoteVerifier = key(parseVerifierKey(PETER_VKEY));
const enoch: NoteVerifier = key(parseVerifierKey(ENOCH_VKEY));
const peterSigner: NoteSigner = key(parseSignerKey(PETER_SKEY));

function failure(opened: OpenedNote): { code: string; reason: string } {
  if (opened.ok) throw new Error("expected the note to be refused");
  return { code: opened.code, reason: opened.reason };
}

/** Re-encodes a signature line after changing its decoded bytes. */
function withSignatureBytes(line: string, change: (bytes: Buffer) => void): string {
  const [prefix, b64] = [line.slice(0, line.lastIndexOf(" ") + 1), line.slice(line.lastIndexOf(" ") + 1, -1)];
  const bytes = Buffer.from(b64, "base64");
  change(bytes);
  return `${prefix}${bytes.toString("base64")}\n`;
}

describe("keys against the Go reference data", () => {
  test("the verifier key parses, and its id is SHA-256(name ‖ \\n ‖ 0x01 ‖ key)[:4]", () => {
    expect(peter.name).toBe("PeterNeumann");
    expect(peter.keyId).toBe("c74f20a3");
    expect(keyIdFor("PeterNeumann", peter.publicKey)).toBe("c74f20a3");
    expect(encodeVerifierKey(peter)).toBe(PETER_VKEY);
    expect(enoch.keyId).toBe("af0cfe78");
  });

  test("the signer key derives the same public key and re-encodes byte for byte", () => {
    expect(peterSigner.keyId).toBe("c74f20a3");
    expect(peterSigner.publicKey.equals(peter.publicKey)).toBe(true);
    const seed = Buffer.from(PETER_SKEY.split("+").slice(4).join("+"), "base64").subarray(1);
    const pair = signingKeyFromSeed("PeterNeumann", seed);
    expect(pair.signerKey).toBe(PETER_SKEY);
    expect(pair.verifierKey).toBe(PETER_VKEY);
  });

  test("signing reproduces the published note exactly", () => {
    expect(signNote(TEXT, peterSigner)).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  test("every truncation or single-byte change of either key is refused", () => {
    for (const [text, parse] of [
      [PETER_VKEY, parseVerifierKey],
      [PETER_SKEY, parseSignerKey],
    ] as const) {
      const accepted: string[] = [];
      for (let i = 0; i <= text.length; i++) {
        for (let j = i + 1; j <= text.length; j++) {
          if ((i !== 0 || j !== text.length) && parse(text.slice(i, j)).ok) accepted.push(text.slice(i, j));
        }
      }
      for (let i = 0; i < text.length; i++) {
        const bumped = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) + 1) + text.slice(i + 1);
        if (parse(bumped).ok) accepted.push(bumped);
      }
      expect(accepted).toEqual([]);
    }
  });

  test.each([
    ["PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", /not canonical standard base64/],
    ["PeterNeumann+3e5a3b0a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAAAA", /holds 35 key bytes/],
    ["PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /signature type 0x65/],
    ["PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /not 8 lowercase hex digits/],
    ["PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /c74f20a4 but its key hashes to c74f20a3/],
    ["Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /invalid key name/],
    ["PeterNeumann+c74f20a3", /has the form/],
  ])("the verifier key %s is refused", (vkey, reason) => {
    const parsed = parseVerifierKey(vkey);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });

  test("a signer key needs the PRIVATE+KEY prefix and an id matching its derived public key", () => {
    expect(parseSignerKey(PETER_VKEY)).toEqual({ ok: false, reason: 'a signer key starts with "PRIVATE+KEY+"' });
    const wrongId = parseSignerKey(PETER_SKEY.replace("c74f20a3", "c74f20a4"));
    const reason = "the signer key's id is c74f20a4 but its public key hashes to c74f20a3";
    expect(wrongId).toEqual({ ok: false, reason });
  });
});

describe("opening notes, after the Go reference tests", () => {
  test("one signature verified, one by an unknown key", () => {
    const opened = openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [peter]);
    expect(opened).toEqual({
      ok: true,
      text: TEXT,
      verifiedBy: ["PeterNeumann"],
      signatures: [
        { name: "PeterNeumann", keyId: "c74f20a3", status: "verified" },
        { name: "EnochRoot", keyId: "af0cfe78", status: "unknown_key" },
      ],
    });
  });

  test("both signatures verified, from bytes as well as from a string", () => {
    const note = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    for (const input of [note, Buffer.from(note, "utf8")]) {
      const opened = openNote(input, [peter, enoch]);
      expect(opened.ok && opened.verifiedBy).toEqual(["PeterNeumann", "EnochRoot"]);
    }
  });

  test("no known key: refused, saying which keys signed", () => {
    expect(failure(openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, []))).toEqual({
      code: "UNKNOWN_KEY",
      reason:
        "no signature is by a known key: PeterNeumann+c74f20a3 (no known key has that name); " +
        "EnochRoot+af0cfe78 (no known key has that name)",
    });
  });

  test("more than 100 signatures is malformed", () => {
    expect(failure(openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [peter])).code).toBe("MALFORMED_NOTE");
    expect(openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [peter]).ok).toBe(true);
  });

  test("a signature by a known key that does not verify fails the whole note", () => {
    // The Go test splices "ABCD" in at byte 60 of the signature line.
    const line = Buffer.from(PETER_SIG, "utf8");
    const spliced = Buffer.concat([line.subarray(0, 60), Buffer.from("ABCD"), line.subarray(60)]).toString("utf8");
    expect(failure(openNote(`${TEXT}\n${spliced}`, [peter]))).toEqual({
      code: "INVALID_SIGNATURE",
      reason: "the signature by PeterNeumann+c74f20a3 does not verify",
    });
  });

  test("repeated and unverifiable unknown signatures are tolerated next to a verified one", () => {
    const enochSpliced = Buffer.concat([
      Buffer.from(ENOCH_SIG).subarray(0, 60),
      Buffer.from("ABCD"),
      Buffer.from(ENOCH_SIG).subarray(60),
    ]).toString("utf8");
    const opened = openNote(`${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochSpliced}`, [peter]);
    expect(opened.ok && opened.verifiedBy).toEqual(["PeterNeumann"]);
    expect(opened.ok && opened.signatures.map((s) => s.status)).toEqual([
      "verified",
      "verified",
      "unknown_key",
      "unknown_key",
      "unknown_key",
    ]);
  });

  test.each([
    ["text only", TEXT, /no blank line/],
    ["text and a blank line", `${TEXT}\n`, /no signature lines/],
    ["no final newline", `${TEXT}\n${PETER_SIG.slice(0, -1)}`, /does not end in a newline/],
    ["a control character", `\u0001${TEXT}\n${PETER_SIG}`, /control character U\+0001/],
    ["a name with a space", `${TEXT}\n— Bad Name ${PETER_SIGNATURE}`, /does not end in a newline/],
    ["a name with a space, and a newline", `${TEXT}\n— Bad Name ${PETER_SIGNATURE}\n`, /line 1 does not hold a canonical/],
    ["a line after the signatures", `${TEXT}\n${PETER_SIG}Unexpected line.\n`, /line 2 does not start with "— "/],
  ])("malformed: %s", (_, note, reason) => {
    const refused = failure(openNote(note, [peter]));
    expect(refused.code).toBe("MALFORMED_NOTE");
    expect(refused.reason).toMatch(reason);
  });

  test("malformed: bytes that are not UTF-8", () => {
    const note = Buffer.concat([Buffer.from([0xff]), Buffer.from(`${TEXT}\n${PETER_SIG}`)]);
    expect(failure(openNote(note, [peter]))).toEqual({ code: "MALFORMED_NOTE", reason: "the note is not valid UTF-8" });
  });
});

describe("strict parsing and clear failures", () => {
  test("signature lines without the blank line before them are not signatures", () => {
    expect(failure(openNote(`${TEXT}${PETER_SIG}`, [peter])).reason).toMatch(/no blank line/);
  });

  test("a known name with another key id is an unknown key, and the reason names the known id", () => {
    const wrongId = withSignatureBytes(PETER_SIG, (bytes) => {
      bytes[3] = bytes[3]! ^ 0x01;
    });
    expect(failure(openNote(`${TEXT}\n${wrongId}`, [peter]))).toEqual({
      code: "UNKNOWN_KEY",
      reason: "no signature is by a known key: PeterNeumann+c74f20a2 (the known PeterNeumann key id is c74f20a3)",
    });
  });

  test("a changed signature byte or a changed text fails verification", () => {
    const flipped = withSignatureBytes(PETER_SIG, (bytes) => {
      bytes[20] = bytes[20]! ^ 0x01;
    });
    expect(failure(openNote(`${TEXT}\n${flipped}`, [peter])).code).toBe("INVALID_SIGNATURE");
    const edited = `${TEXT.replace("cryptography", "cryptographY")}\n${PETER_SIG}`;
    expect(failure(openNote(edited, [peter])).code).toBe("INVALID_SIGNATURE");
  });

  test.each([
    ["unpadded base64", PETER_SIG.replace("=\n", "\n"), /canonical standard base64/],
    ["base64url", PETER_SIG.replace("x08go/", "x08go_"), /canonical standard base64/],
    ["non-canonical final bits", PETER_SIG.replace("nAM=", "nAN="), /canonical standard base64/],
    ["an empty name", PETER_SIG.replace("PeterNeumann", ""), /invalid key name ""/],
    ["a plus in the name", PETER_SIG.replace("PeterNeumann", "Peter+Neumann"), /invalid key name/],
    ["a hyphen for the em dash", PETER_SIG.replace("—", "-"), /does not start with "— "/],
    ["no signature", "— PeterNeumann\n", /no space/],
    ["a too-short signature", "— PeterNeumann AAAA\n", /too short/],
  ])("malformed signature line: %s", (_, line, reason) => {
    const refused = failure(openNote(`${TEXT}\n${line}`, [peter]));
    expect(refused.code).toBe("MALFORMED_NOTE");
    expect(refused.reason).toMatch(reason);
  });

  test("a lone surrogate in a string note is malformed, since UTF-8 cannot carry it", () => {
    expect(failure(openNote(`\ud800${TEXT}\n${PETER_SIG}`, [peter])).reason).toMatch(/lone surrogate/);
  });

  test("the text may hold blank lines: the last blank line separates the signatures", () => {
    const text = "first paragraph\n\nsecond paragraph\n\n";
    const note = signNote(text, peterSigner);
    expect(note).toBe(`${text}\n${note.slice(text.length + 1)}`);
    const opened = openNote(note, [peter]);
    expect(opened.ok && opened.text).toBe(text);
  });

  test("a verifier's key id is derived from its key, not taken on trust", () => {
    const liar: NoteVerifier = { name: "PeterNeumann", keyId: "c74f20a3", publicKey: enoch.publicKey };
    expect(failure(openNote(`${TEXT}\n${PETER_SIG}`, [liar])).code).toBe("UNKNOWN_KEY");
  });
});

describe("signing", () => {
  test("generated keys round-trip through their text forms and sign notes that open", () => {
    const pair = generateSigningKey("aos.local/keys/2024-01");
    expect(pair.verifierKey).toMatch(/^aos\.local\/keys\/2024-01\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/);
    expect(pair.signerKey).toMatch(/^PRIVATE\+KEY\+aos\.local\/keys\/2024-01\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/);
    const signer = key(parseSignerKey(pair.signerKey));
    const verifier = key(parseVerifierKey(pair.verifierKey));
    expect(verifier).toEqual(pair.verifier);
    const opened = openNote(signNote("hello\n", signer), [verifier]);
    expect(opened).toMatchObject({ ok: true, text: "hello\n", verifiedBy: ["aos.local/keys/2024-01"] });
  });

  test("several signers add lines in order; an old key still verifies after rotation", () => {
    const old = generateSigningKey("aos.local");
    const current = generateSigningKey("aos.local");
    const note = signNote("rotated\n", [current.signer, old.signer]);
    expect(note.split("\n").filter((line) => line.startsWith("— "))).toHaveLength(2);
    const onlyOld = openNote(note, [old.verifier]);
    expect(onlyOld.ok && onlyOld.signatures.map((s) => s.status)).toEqual(["unknown_key", "verified"]);
  });

  test("text a note cannot hold, and invalid signers, are refused", () => {
    expect(() => signNote("no newline", peterSigner)).toThrow(/does not end in a newline/);
    expect(() => signNote("tab\there\n", peterSigner)).toThrow(/control character U\+0009/);
    expect(() => signNote("fine\n", [])).toThrow(/at least one signer/);
    expect(() => signNote("fine\n", { ...peterSigner, name: "bad name" })).toThrow(/not a valid key name/);
    expect(() => generateSigningKey("has space")).toThrow(TypeError);
    expect(() => verifierFromPublicKey("ok", Buffer.alloc(31))).toThrow(TypeError);
  });

  test("key names follow the spec: non-empty, no Unicode spaces, no plus", () => {
    expect(isValidKeyName("example.com/log42")).toBe(true);
    expect(["", "a b", "a+b", "a\u00a0b", "a\u0085b", "a\u3000b", "a\nb"].filter(isValidKeyName)).toEqual([]);
  });
});
