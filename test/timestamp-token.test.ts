import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseTimestampResponse, timestampRequest, verifyTimestampToken, type VerifiedTimestamp } from "../src/trace/timestamp-token.js";
import { tempDir } from "./support/temp-dirs.js";
import {
  CA_EXTENSIONS,
  describeQuery,
  describeReply,
  opensslAccepts,
  opensslCmsAccepts,
  signTstInfo,
  startTsa,
  TestCa,
  TSA_EXTENSIONS,
  tstInfoOf,
  type Issued,
  type SignOptions,
} from "./support/timestamp-authority.js";

/**
 * RFC 3161 tokens from a real TSA (`openssl ts -reply`), checked by verifyTimestampToken and, for every verdict that
 * matters, by `openssl ts -verify` too: each token here is accepted by both or refused by both.
 */
const ca = TestCa.create("AOS Test Root");
const tsaCertificate = ca.issue("AOS Test TSA", { extensions: TSA_EXTENSIONS });
const tsa = startTsa(tsaCertificate);
// What the tenant log will timestamp: the exact bytes of a signed checkpoint's body.
const MESSAGE = Buffer.from("aos.local/tenant/acme\n42\nK3C4+4p+2zWz8h1sQ9wQ3xX1kq0b8mRr1u7fXc0nK2E=\n");
const IMPRINT = createHash("sha256").update(MESSAGE).digest();
const NONCE = 0x1f2e3d4c5b6a7988n;

function stampWithNonce(message: Buffer, nonce: bigint): { reply: Buffer; before: number; after: number } {
  const before = Date.now();
  const reply = tsa.reply(timestampRequest(createHash("sha256").update(message).digest(), nonce));
  return { reply, before, after: Date.now() };
}

const genuine = stampWithNonce(MESSAGE, NONCE);
const granted = parseTimestampResponse(genuine.reply);
if (!granted.ok) throw new Error(`the test TSA refused: ${granted.reason}`);
const TOKEN = granted.token;

function verified(result: VerifiedTimestamp): Extract<VerifiedTimestamp, { ok: true }> {
  if (!result.ok) throw new Error(`expected the token to verify: ${result.reason}`);
  return result;
}

function refusal(result: VerifiedTimestamp): string {
  if (result.ok) throw new Error("expected the token to be refused");
  return result.reason;
}

/** Both verifiers' verdicts, OpenSSL's at the token's genTime (or `at`, for a token ours refuses before reading it). */
function verdicts(token: Buffer, trusted: Issued[], message = MESSAGE, at = new Date()): { ours: VerifiedTimestamp; openssl: boolean } {
  const ours = verifyTimestampToken(token, { message, trustedCertificates: trusted.map((issued) => issued.pem) });
  return { ours, openssl: opensslAccepts(token, message, trusted.map((issued) => issued.certFile), ours.ok ? ours.genTime : at) };
}

/** The bytes of openssl's "Message data:" hex dump (`0000 - 58 91 b5 … 08-6d 0f …   X..."`). */
function hexDump(text: string): string {
  const lines = [...text.matchAll(/^\s+[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){15}[0-9a-f]{2})/gm)];
  return lines.map((line) => (line[1] as string).replace(/[ -]/g, "")).join("");
}

describe("a timestamp request", () => {
  it("is what openssl ts reads as version 1, a SHA-256 imprint, the nonce and certReq", () => {
    const text = describeQuery(timestampRequest(IMPRINT, NONCE));
    expect(text).toMatch(/Version: 1/);
    expect(text).toMatch(/Hash Algorithm: sha256/);
    expect(hexDump(text)).toBe(IMPRINT.toString("hex"));
    expect(text).toContain(`Nonce: 0x${NONCE.toString(16).toUpperCase()}`);
    expect(text).toMatch(/Certificate required: yes/);
  });

  it("reads a Buffer nonce as an unsigned number, the high bit included", () => {
    const text = describeQuery(timestampRequest(IMPRINT, Buffer.from("ff00000000000001", "hex")));
    expect(text).toContain("Nonce: 0xFF00000000000001");
  });

  it("refuses an imprint that is not 32 bytes", () => {
    expect(() => timestampRequest(Buffer.alloc(20), 1n)).toThrow(/32 bytes/);
  });
});

describe("a genuine token", () => {
  it("is the token OpenSSL puts in its reply", () => {
    expect(TOKEN.equals(tsa.tokenOf(genuine.reply))).toBe(true);
  });

  it("verifies, with the time the TSA signed at, its name and its certificate", () => {
    const result = verified(verifyTimestampToken(TOKEN, { message: MESSAGE, trustedCertificates: [ca.root.pem], nonce: NONCE }));
    expect(result.genTime.getTime()).toBeGreaterThanOrEqual(genuine.before);
    expect(result.genTime.getTime()).toBeLessThanOrEqual(genuine.after);
    // OpenSSL's own reading of the reply: "Time stamp: Dec  6 06:05:40.259 2026 GMT", "Serial number: 0x02".
    const text = describeReply(genuine.reply);
    const [, month, day, time, year] = /Time stamp: (\w{3}) +(\d+) ([\d:.]+) (\d{4}) GMT/.exec(text) as unknown as string[];
    expect(result.genTime).toEqual(new Date(`${month} ${day} ${year} ${time} UTC`));
    expect(BigInt(/Serial number: (0x[0-9A-F]+)/.exec(text)?.[1] ?? "-1").toString(16)).toBe(result.serialNumber);
    expect(result).toMatchObject({
      policy: "1.3.6.1.4.1.55555.1",
      accuracy: { seconds: 1, millis: 500, micros: 100 },
      tsaName: "CN=AOS Test TSA",
      signer: { subject: "CN=AOS Test TSA", issuer: "CN=AOS Test Root" },
    });
    expect(opensslAccepts(TOKEN, MESSAGE, [ca.root.certFile], result.genTime)).toBe(true);
  });

  it("verifies when the operator trusts the TSA's own certificate instead of its CA", () => {
    const { ours, openssl } = verdicts(TOKEN, [tsaCertificate]);
    expect(verified(ours).signer.subject).toBe("CN=AOS Test TSA");
    expect(openssl).toBe(true);
  });

  it("does not verify for other bytes, and says so", () => {
    const { ours, openssl } = verdicts(TOKEN, [ca.root], Buffer.from("another checkpoint\n"));
    expect(refusal(ours)).toBe("the token timestamps other bytes than the message");
    expect(openssl).toBe(false);
  });

  it("does not verify for another nonce than the one expected", () => {
    const result = verifyTimestampToken(TOKEN, { message: MESSAGE, trustedCertificates: [ca.root.pem], nonce: NONCE + 1n });
    expect(refusal(result)).toBe("the token's nonce is not the request's");
  });

  it("does not verify against a CA that did not issue the TSA's certificate", () => {
    const stranger = TestCa.create("AOS Test Root");
    const { ours, openssl } = verdicts(TOKEN, [stranger.root]);
    expect(refusal(ours)).toMatch(/signature on the certificate CN=AOS Test TSA does not verify with the key of CN=AOS Test Root/);
    expect(openssl).toBe(false);
  });

  it("does not verify with no trusted certificates, or with text that holds none", () => {
    expect(refusal(verifyTimestampToken(TOKEN, { message: MESSAGE, trustedCertificates: [] }))).toBe("no trusted certificates were given");
    expect(refusal(verifyTimestampToken(TOKEN, { message: MESSAGE, trustedCertificates: ["not a certificate"] }))).toMatch(/holds no PEM certificate/);
  });
});

/**
 * Every byte of a token is covered by something the verifier checks: the TSTInfo by the message-digest attribute,
 * the signed attributes by the signature, the TSA certificate by its signing-certificate hash and its CA's signature,
 * and the CMS framing, algorithm identifiers, versions and signer identifier by strict parsing and comparison. So
 * each position is changed three ways (low bit, high bit, every bit) and every result must be refused; likewise every
 * truncation and an appended byte. This holds for tokens whose certificates all lie on the path, as OpenSSL's do.
 */
describe("a changed token", () => {
  const intermediate = ca.issue("AOS Test Intermediate", { extensions: CA_EXTENSIONS });
  const chainedCertificate = ca.issue("AOS Chained TSA", { extensions: TSA_EXTENSIONS }, intermediate);
  const chainFile = join(tempDir("aos-tsa-chain"), "chain.pem");
  writeFileSync(chainFile, intermediate.pem);
  const chained = startTsa(chainedCertificate, { chainFile }).stamp(MESSAGE);

  it.each([
    ["from a TSA whose certificate the root signed", TOKEN],
    ["from a TSA certified by an intermediate CA the token carries", chained],
  ])("is refused at every byte position, %s", (_name, token) => {
    const options = { message: MESSAGE, trustedCertificates: [ca.root.pem] };
    expect(verifyTimestampToken(token, options).ok).toBe(true);
    const accepted: string[] = [];
    for (let position = 0; position < token.length; position += 1) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const changed = Buffer.from(token);
        changed[position] = (changed[position] as number) ^ mask;
        if (verifyTimestampToken(changed, options).ok) accepted.push(`byte ${position} ^ 0x${mask.toString(16)}`);
      }
    }
    for (let length = 0; length < token.length; length += 1) {
      if (verifyTimestampToken(token.subarray(0, length), options).ok) accepted.push(`the first ${length} bytes`);
    }
    if (verifyTimestampToken(Buffer.concat([token, Buffer.from([0])]), options).ok) accepted.push("a byte appended");
    expect(accepted).toEqual([]);
    expect(token.length).toBeGreaterThan(1000);
  });

  it("is refused, never thrown on, after random edits: bytes changed, inserted and removed", () => {
    const options = { message: MESSAGE, trustedCertificates: [ca.root.pem] };
    const edit = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom("set", "insert", "remove") });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let token = Buffer.from(TOKEN);
        for (const { at, byte, kind } of edits) {
          const i = at % token.length;
          if (kind === "set") token[i] = token[i] === byte ? byte ^ 1 : byte;
          else if (kind === "insert") token = Buffer.concat([token.subarray(0, i), Buffer.from([byte]), token.subarray(i)]);
          else token = Buffer.concat([token.subarray(0, i), token.subarray(i + 1)]);
        }
        // Edits can undo each other (a byte inserted, then removed at the same place): that is no change at all.
        fc.pre(!token.equals(TOKEN));
        expect(verifyTimestampToken(token, options).ok).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it("is refused when the intermediate CA is missing, and OpenSSL agrees", () => {
    const alone = startTsa(chainedCertificate).stamp(MESSAGE);
    const { ours, openssl } = verdicts(alone, [ca.root]);
    expect(refusal(ours)).toMatch(/CN=AOS Chained TSA is not trusted, nor issued by a trusted certificate or one in the token/);
    expect(openssl).toBe(false);
    expect(verdicts(chained, [ca.root]).openssl).toBe(true);
  });
});

describe("the TSA's certificate", () => {
  const tstInfo = tstInfoOf(TOKEN);
  const genTime = verified(verifyTimestampToken(TOKEN, { message: MESSAGE, trustedCertificates: [ca.root.pem] })).genTime;

  /**
   * A token over a TSTInfo OpenSSL made, signed with a certificate OpenSSL would not sign with. The TSTInfo's tsa
   * field names "AOS Test TSA", so the certificate has that name too.
   */
  function tokenSignedBy(extensions: string[], options: SignOptions = {}): Buffer {
    return signTstInfo(tstInfo, ca.issue("AOS Test TSA", { extensions }), options);
  }

  it("as the tests build tokens, with the right extensions, verifies for both verifiers", () => {
    const { ours, openssl } = verdicts(tokenSignedBy(TSA_EXTENSIONS), [ca.root], MESSAGE, genTime);
    expect(verified(ours).genTime).toEqual(genTime);
    expect(openssl).toBe(true);
  });

  it.each([
    ["has no extendedKeyUsage", ["keyUsage = critical,digitalSignature"], /has no extendedKeyUsage/],
    ["has a non-critical extendedKeyUsage", ["extendedKeyUsage = timeStamping", "keyUsage = critical,digitalSignature"], /extendedKeyUsage is not critical/],
    ["has another purpose beside timeStamping", ["extendedKeyUsage = critical,timeStamping,serverAuth"], /not timeStamping alone/],
    ["may only encipher keys", ["extendedKeyUsage = critical,timeStamping", "keyUsage = critical,keyEncipherment"], /keyUsage is not digitalSignature or nonRepudiation alone/],
    ["has an unknown critical extension", [...TSA_EXTENSIONS, "1.3.6.1.4.1.55555.9 = critical,ASN1:NULL"], /critical extension this verifier does not process \(1\.3\.6\.1\.4\.1\.55555\.9\)/],
  ])("is refused when it %s, and OpenSSL agrees", (_name, extensions, reason) => {
    const { ours, openssl } = verdicts(tokenSignedBy(extensions), [ca.root], MESSAGE, genTime);
    expect(refusal(ours)).toMatch(reason);
    expect(openssl).toBe(false);
  });

  it.each([
    ["expired before genTime", new Date("2020-01-01T00:00:00Z"), new Date("2021-01-01T00:00:00Z")],
    ["not yet valid at genTime", new Date(Date.now() + 86_400_000), new Date(Date.now() + 2 * 86_400_000)],
  ])("is refused when it was %s, and OpenSSL agrees", (_name, notBefore, notAfter) => {
    const certificate = ca.issue("Badly Timed TSA", { extensions: TSA_EXTENSIONS, key: "ec-p256", notBefore, notAfter });
    const token = startTsa(certificate).stamp(MESSAGE);
    const { ours, openssl } = verdicts(token, [ca.root]);
    expect(refusal(ours)).toMatch(/the certificate CN=Badly Timed TSA is not valid at .* \(it is valid from /);
    expect(openssl).toBe(false);
  });

  it("is refused when the TSTInfo's tsa field names another TSA (RFC 3161 §2.4.2)", () => {
    const token = signTstInfo(tstInfo, ca.issue("Another TSA", { extensions: TSA_EXTENSIONS }));
    const result = verifyTimestampToken(token, { message: MESSAGE, trustedCertificates: [ca.root.pem] });
    expect(refusal(result)).toBe("the tsa field names another TSA than the signer's certificate (CN=Another TSA)");
  });

  it("is refused when a certificate that is not a CA issued it, and OpenSSL agrees", () => {
    const endEntity = ca.issue("Not A CA", { extensions: ["basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature,keyCertSign"] });
    const certificate = ca.issue("AOS Test TSA", { extensions: TSA_EXTENSIONS }, endEntity);
    const token = signTstInfo(tstInfo, certificate, { extraCertificates: [endEntity.der] });
    const { ours, openssl } = verdicts(token, [ca.root], MESSAGE, genTime);
    expect(refusal(ours)).toMatch(/CN=Not A CA is not a CA certificate/);
    expect(openssl).toBe(false);
  });
});

describe("the CMS signature", () => {
  const tstInfo = tstInfoOf(TOKEN);

  it.each<[string, "rsa" | "ec-p256" | "ec-p384", Omit<SignOptions, "issuerSerialOf"> & { issuerSerialOf?: "signer" }]>([
    ["RSA PKCS #1 v1.5 with SHA-512", "rsa", { hash: "sha512" }],
    ["ECDSA P-384 with SHA-384", "ec-p384", { hash: "sha384" }],
    ["the SHA-1 signingCertificate of RFC 3161 before RFC 5816", "rsa", { signingCertificate: "v1" }],
    ["an issuerSerial in the signingCertificateV2", "rsa", { issuerSerialOf: "signer" }],
    ["an issuerSerial in the SHA-1 signingCertificate", "rsa", { signingCertificate: "v1", issuerSerialOf: "signer" }],
  ])("verifies with %s, as openssl ts does", (_name, key, { issuerSerialOf, ...rest }) => {
    const certificate = ca.issue("AOS Test TSA", { extensions: TSA_EXTENSIONS, key });
    const options = { ...rest, ...(issuerSerialOf === undefined ? {} : { issuerSerialOf: certificate }) };
    const token = signTstInfo(tstInfo, certificate, options);
    const { ours, openssl } = verdicts(token, [ca.root]);
    expect(ours.ok ? "verified" : ours.reason).toBe("verified");
    expect(openssl).toBe(true);
  });

  it("is refused when the signing certificate's issuerSerial names another certificate, and OpenSSL agrees", () => {
    const certificate = ca.issue("AOS Test TSA", { extensions: TSA_EXTENSIONS });
    const token = signTstInfo(tstInfo, certificate, { issuerSerialOf: ca.issue("AOS Test TSA", { extensions: TSA_EXTENSIONS }) });
    const { ours, openssl } = verdicts(token, [ca.root], MESSAGE, new Date());
    expect(refusal(ours)).toBe("the signingCertificateV2 attribute's issuerSerial is not the signer certificate's issuer and serial number");
    expect(openssl).toBe(false);
  });

  // openssl ts reads tokens as PKCS #7, which has neither of these; openssl cms checks their signature and path.
  it.each<[string, SignOptions]>([
    ["RSA-PSS with SHA-256", { pss: true }],
    ["RSA-PSS with SHA-384", { pss: true, hash: "sha384" }],
    ["a subjectKeyIdentifier naming the signer", { sid: "subjectKeyIdentifier" }],
  ])("verifies with %s, as openssl cms does", (_name, options) => {
    const certificate = ca.issue("AOS Test TSA", { extensions: TSA_EXTENSIONS });
    const token = signTstInfo(tstInfo, certificate, options);
    const result = verifyTimestampToken(token, { message: MESSAGE, trustedCertificates: [ca.root.pem] });
    expect(result.ok ? "verified" : result.reason).toBe("verified");
    expect(opensslCmsAccepts(token, [ca.root.certFile], verified(result).genTime)).toBe(true);
    const otherKey = signTstInfo(tstInfo, { ...certificate, keyPem: ca.issue("AOS Test TSA", { extensions: TSA_EXTENSIONS }).keyPem }, options);
    expect(refusal(verifyTimestampToken(otherKey, { message: MESSAGE, trustedCertificates: [ca.root.pem] }))).toMatch(/signature over the signed attributes does not verify/);
    expect(opensslCmsAccepts(otherKey, [ca.root.certFile], new Date())).toBe(false);
  });

  it("is refused without a signing-certificate attribute (RFC 3161 §2.4.1), and OpenSSL agrees", () => {
    const token = signTstInfo(tstInfo, ca.issue("AOS Test TSA", { extensions: TSA_EXTENSIONS }), { signingCertificate: "none" });
    const { ours, openssl } = verdicts(token, [ca.root], MESSAGE, new Date());
    expect(refusal(ours)).toMatch(/no signingCertificate or signingCertificateV2/);
    expect(openssl).toBe(false);
  });

});

describe("a timestamp response", () => {
  it("that grants gives the token", () => {
    expect(granted.ok).toBe(true);
  });

  it("that rejects is reported with its status, failure and text", () => {
    const picky = startTsa(tsaCertificate, { digests: "sha512" });
    const result = parseTimestampResponse(picky.reply(timestampRequest(IMPRINT, NONCE)));
    expect(result).toEqual({
      ok: false,
      reason: 'the TSA did not grant the request: rejection (badAlg: "Message digest algorithm is not supported.")',
      status: "rejection",
      failures: ["badAlg"],
    });
  });

  it("that grants but holds no token, or is not DER, is refused", () => {
    expect(parseTimestampResponse(Buffer.from("30053003020100", "hex"))).toMatchObject({ ok: false, reason: "the TSA answered granted but sent no token" });
    expect(parseTimestampResponse(Buffer.from("<html>busy</html>"))).toMatchObject({ ok: false, reason: expect.stringMatching(/^the response is malformed: /) });
    expect(parseTimestampResponse(Buffer.concat([genuine.reply, Buffer.from([0])]))).toMatchObject({ ok: false });
  });
});
