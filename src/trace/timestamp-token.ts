import { createHash } from "node:crypto";
import {
  certificateFacts,
  certificatesFromPem,
  displayName,
  EXTENSION,
  extensionValue,
  KEY_USAGE,
  keyUsageBits,
  pathToTrusted,
  type CertificateFacts,
} from "./certificate-path.js";
import {
  findSignerCertificate,
  hashAlgorithm,
  readSignedData,
  signatureProblem,
  signedAttributesProblem,
  signingCertificateProblem,
  type SignedData,
} from "./cms-signed-data.js";
import {
  bitIsSet,
  contextConstructed,
  contextPrimitive,
  DerProblem,
  DerReader,
  encode,
  encodeBoolean,
  encodeInteger,
  encodeOid,
  readBitString,
  readBoolean,
  readGeneralizedTime,
  readInteger,
  readOid,
  readSmallInteger,
  readWhole,
  TAG,
  type DerElement,
} from "./der.js";

/**
 * RFC 3161 timestamp tokens: external evidence that some bytes existed at a time a timestamp authority (TSA) signs.
 *
 *   TimeStampReq  ::= SEQUENCE { version 1, messageImprint, reqPolicy OPTIONAL, nonce INTEGER OPTIONAL,
 *                                certReq BOOLEAN DEFAULT FALSE, extensions [0] OPTIONAL }                   (§2.4.1)
 *   MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
 *   TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }               (§2.4.2)
 *   PKIStatusInfo ::= SEQUENCE { status INTEGER, statusString SEQUENCE OF UTF8String OPTIONAL,
 *                                failInfo BIT STRING OPTIONAL }
 *   TSTInfo       ::= SEQUENCE { version 1, policy OID, messageImprint, serialNumber INTEGER,
 *                                genTime GeneralizedTime, accuracy OPTIONAL, ordering BOOLEAN DEFAULT FALSE,
 *                                nonce INTEGER OPTIONAL, tsa [0] GeneralName OPTIONAL, extensions [1] OPTIONAL }
 *
 * The token is a CMS SignedData over the TSTInfo (cms-signed-data.ts). Verification is offline: the operator's
 * trusted certificates are the only trust, and nothing is fetched. The imprint is always SHA-256.
 */
const ID_CT_TST_INFO = "1.2.840.113549.1.9.16.1.4";
const ID_KP_TIME_STAMPING = "1.3.6.1.5.5.7.3.8";
const SHA256 = "2.16.840.1.101.3.4.2.1";
const STATUS_NAMES = ["granted", "grantedWithMods", "rejection", "waiting", "revocationWarning", "revocationNotification"];
/** §2.4.2 PKIFailureInfo's named bits. */
const FAILURE_NAMES: Readonly<Record<number, string>> = {
  0: "badAlg",
  2: "badRequest",
  5: "badDataFormat",
  14: "timeNotAvailable",
  15: "unacceptedPolicy",
  16: "unacceptedExtension",
  17: "addInfoNotAvailable",
  25: "systemFailure",
};
const STATUS_TEXT_CHARS = 200;

export interface TstInfo {
  policy: string;
  imprint: { hash: string; value: Buffer };
  serialNumber: bigint;
  genTime: Date;
  accuracy: { seconds: number; millis: number; micros: number } | undefined;
  ordering: boolean;
  nonce: bigint | undefined;
  /** The tsa field: a GeneralName, as DER. */
  tsa: Buffer | undefined;
}

export type TimestampResponse =
  | { ok: true; token: Buffer }
  | { ok: false; reason: string; status?: string; failures?: string[] };

export type ReadTimestampToken = { ok: true; info: TstInfo } | { ok: false; reason: string };

export interface TimestampVerifyOptions {
  /** The exact bytes that were timestamped: the token's imprint must be their SHA-256. */
  message: Buffer;
  /** PEM text of the certificates the operator trusts (CA certificates, or the TSA's own); one text may hold several. */
  trustedCertificates: readonly string[];
  /** When given, the token's nonce must be this one. */
  nonce?: bigint | Buffer;
}

export type VerifiedTimestamp =
  | {
      ok: true;
      genTime: Date;
      /** The TSTInfo's serialNumber, lowercase hex. */
      serialNumber: string;
      policy: string;
      accuracy: TstInfo["accuracy"];
      /** The TSTInfo's tsa field as text, when present (it names the signer's certificate). */
      tsaName: string | undefined;
      signer: { subject: string; issuer: string; serialNumber: string; fingerprint256: string };
    }
  | { ok: false; reason: string };

/**
 * A TimeStampReq for a SHA-256 imprint, with a nonce (a Buffer is read as an unsigned big-endian number) and certReq
 * TRUE, so the token carries the TSA's certificate. Throws on an imprint that is not 32 bytes: a caller's bug.
 */
export function timestampRequest(messageImprintSha256: Buffer, nonce: bigint | Buffer): Buffer {
  if (messageImprintSha256.length !== 32) throw new TypeError(`a SHA-256 imprint is 32 bytes, not ${messageImprintSha256.length}`);
  return encode(
    TAG.SEQUENCE,
    encodeInteger(1n),
    // Parameters NULL, as OpenSSL writes it: RFC 5754 §2 lets them be absent too, but some TSAs refuse that spelling.
    encode(TAG.SEQUENCE, encode(TAG.SEQUENCE, encodeOid(SHA256), encode(TAG.NULL)), encode(TAG.OCTET_STRING, messageImprintSha256)),
    encodeInteger(nonceValue(nonce)),
    encodeBoolean(true),
  );
}

/**
 * A TimeStampResp's token when the TSA granted the request and the token reads as a SignedData over a TSTInfo
 * (nothing in it is checked yet: that is verifyTimestampToken's); otherwise its status, failures and text.
 */
export function parseTimestampResponse(der: Buffer): TimestampResponse {
  try {
    const response = DerReader.of(readWhole(der, TAG.SEQUENCE, "the response"), "the response");
    const statusInfo = DerReader.of(response.next(TAG.SEQUENCE, "the response's status"), "the response's status");
    const code = readSmallInteger(statusInfo.next(TAG.INTEGER, "the PKIStatus"), "the PKIStatus");
    const text = statusInfo.optional(TAG.SEQUENCE, "the statusString");
    const failInfo = statusInfo.optional(TAG.BIT_STRING, "the failInfo");
    statusInfo.end();
    const token = response.optional(TAG.SEQUENCE, "the timeStampToken");
    response.end();
    const status = STATUS_NAMES[code] ?? `status ${code}`;
    const failures = failInfo === undefined ? [] : failureNames(failInfo);
    if (code <= 1 && token !== undefined) {
      readTstInfo(readSignedData(token.bytes));
      return { ok: true, token: Buffer.from(token.bytes) };
    }
    if (code <= 1) return { ok: false, reason: `the TSA answered ${status} but sent no token`, status };
    const detail = [failures.join(", "), text === undefined ? "" : statusText(text)].filter((part) => part !== "").join(": ");
    return { ok: false, reason: `the TSA did not grant the request: ${status}${detail === "" ? "" : ` (${detail})`}`, status, failures };
  } catch (error) {
    if (error instanceof DerProblem) return { ok: false, reason: `the response is malformed: ${error.message}` };
    throw error;
  }
}

/** The TSTInfo a token carries, read without checking its signature or trusting anything in it. */
export function readTimestampToken(token: Buffer): ReadTimestampToken {
  try {
    return { ok: true, info: readTstInfo(readSignedData(token)) };
  } catch (error) {
    if (error instanceof DerProblem) return { ok: false, reason: `the token is malformed: ${error.message}` };
    throw error;
  }
}

/**
 * Checks a token offline against the message and the operator's trusted certificates: the TSTInfo (version,
 * SHA-256 imprint of `message`, nonce), the CMS signed attributes (content-type, message-digest, the signing
 * certificate), the TSA's signature, the TSA certificate (timeStamping its only, critical, extended key usage) and
 * a path from it to a trusted certificate, each valid at genTime. What it does not check is in docs/timestamps.md.
 */
export function verifyTimestampToken(token: Buffer, options: TimestampVerifyOptions): VerifiedTimestamp {
  try {
    return verifyParsed(token, options);
  } catch (error) {
    if (error instanceof DerProblem) return { ok: false, reason: error.message };
    throw error;
  }
}

function verifyParsed(token: Buffer, options: TimestampVerifyOptions): VerifiedTimestamp {
  if (options.trustedCertificates.length === 0) return refuse("no trusted certificates were given");
  const trusted = options.trustedCertificates.flatMap((pem, index) => certificatesFromPem(pem, `trusted certificate text ${index + 1}`));
  const signed = readSignedData(token);
  const info = readTstInfo(signed);
  const imprintProblem = imprintMismatch(info, options.message, options.nonce);
  if (imprintProblem !== undefined) return refuse(imprintProblem);
  const carried = signed.certificates.map((der, index) => certificateFacts(der, `the token's certificate ${index + 1}`));
  const signer = findSignerCertificate(signed.signerInfo, carried) ?? findSignerCertificate(signed.signerInfo, trusted);
  if (signer === undefined) return refuse("neither the token nor the trusted certificates hold the certificate its signerInfo names");
  const problem =
    signedAttributesProblem(signed) ??
    signingCertificateProblem(signed.signerInfo, signer) ??
    signatureProblem(signed.signerInfo, signer) ??
    timestampingProblem(signer) ??
    tsaNameProblem(info, signer);
  if (problem !== undefined) return refuse(problem);
  const path = pathToTrusted(signer, carried, trusted, info.genTime);
  if (!path.ok) return refuse(path.reason);
  return {
    ok: true,
    genTime: info.genTime,
    serialNumber: info.serialNumber.toString(16),
    policy: info.policy,
    accuracy: info.accuracy,
    tsaName: info.tsa === undefined ? undefined : generalNameText(info.tsa, signer),
    signer: {
      subject: displayName(signer),
      issuer: signer.x509.issuer.split("\n").join(", "),
      serialNumber: signer.x509.serialNumber.toLowerCase(),
      fingerprint256: signer.x509.fingerprint256,
    },
  };
}

function imprintMismatch(info: TstInfo, message: Buffer, nonce: bigint | Buffer | undefined): string | undefined {
  if (info.imprint.hash !== "sha256") return `the token's imprint is ${info.imprint.hash}, not SHA-256`;
  if (!info.imprint.value.equals(createHash("sha256").update(message).digest())) return "the token timestamps other bytes than the message";
  if (nonce === undefined) return undefined;
  if (info.nonce === undefined) return "the token has no nonce, but one was expected";
  return info.nonce === nonceValue(nonce) ? undefined : "the token's nonce is not the request's";
}

function readTstInfo(signed: SignedData): TstInfo {
  if (signed.eContentType !== ID_CT_TST_INFO) throw new DerProblem(`the token's eContentType is ${signed.eContentType}, not id-ct-TSTInfo`);
  const reader = DerReader.of(readWhole(signed.eContent, TAG.SEQUENCE, "the TSTInfo"), "the TSTInfo");
  const version = readSmallInteger(reader.next(TAG.INTEGER, "the TSTInfo's version"), "the TSTInfo's version");
  if (version !== 1) throw new DerProblem(`the TSTInfo's version is ${version}, not 1`);
  const policy = readOid(reader.next(TAG.OID, "the TSTInfo's policy"), "the TSTInfo's policy");
  const imprintReader = DerReader.of(reader.next(TAG.SEQUENCE, "the messageImprint"), "the messageImprint");
  const hash = hashAlgorithm(imprintReader.next(TAG.SEQUENCE, "the messageImprint's hashAlgorithm"), "the messageImprint's hashAlgorithm");
  const value = imprintReader.next(TAG.OCTET_STRING, "the hashedMessage").value;
  imprintReader.end();
  const serialNumber = readInteger(reader.next(TAG.INTEGER, "the TSTInfo's serialNumber"), "the TSTInfo's serialNumber");
  const genTime = readGeneralizedTime(reader.next(TAG.GENERALIZED_TIME, "the genTime"), "the genTime");
  const accuracyField = reader.optional(TAG.SEQUENCE, "the accuracy");
  const orderingField = reader.optional(TAG.BOOLEAN, "the ordering");
  const nonceField = reader.optional(TAG.INTEGER, "the TSTInfo's nonce");
  const tsaField = reader.optional(contextConstructed(0), "the tsa");
  const extensions = reader.optional(contextConstructed(1), "the TSTInfo's extensions");
  reader.end();
  if (extensions !== undefined) refuseCriticalExtensions(extensions);
  return {
    policy,
    imprint: { hash, value },
    serialNumber,
    genTime,
    accuracy: accuracyField === undefined ? undefined : readAccuracy(accuracyField),
    ordering: orderingField !== undefined && readBoolean(orderingField, "the ordering"),
    nonce: nonceField === undefined ? undefined : readInteger(nonceField, "the TSTInfo's nonce"),
    tsa: tsaField === undefined ? undefined : Buffer.from(readWhole(tsaField.value, tsaField.value[0] ?? 0, "the tsa's GeneralName").bytes),
  };
}

/** Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER (1..999) OPTIONAL, micros [1] (1..999) }. */
function readAccuracy(element: DerElement): TstInfo["accuracy"] {
  const reader = DerReader.of(element, "the accuracy");
  const part = (tag: number, what: string, low: number, high: number) => {
    const field = reader.optional(tag, what);
    if (field === undefined) return 0;
    const value = readSmallInteger({ ...field, tag: TAG.INTEGER }, what);
    if (value < low || value > high) throw new DerProblem(`${what} is ${value}, not ${low} to ${high}`);
    return value;
  };
  const seconds = part(TAG.INTEGER, "the accuracy's seconds", 0, 0xffff);
  const millis = part(contextPrimitive(0), "the accuracy's millis", 1, 999);
  const micros = part(contextPrimitive(1), "the accuracy's micros", 1, 999);
  reader.end();
  return { seconds, millis, micros };
}

/** A critical TSTInfo extension asks for processing this verifier does not do, so the token is refused. */
function refuseCriticalExtensions(element: DerElement): void {
  for (const extension of DerReader.of(element, "the TSTInfo's extensions").all(TAG.SEQUENCE, "TSTInfo extension")) {
    const reader = DerReader.of(extension, "a TSTInfo extension");
    const id = readOid(reader.next(TAG.OID, "a TSTInfo extension's id"), "a TSTInfo extension's id");
    const critical = reader.optional(TAG.BOOLEAN, "a TSTInfo extension's critical flag");
    reader.next(TAG.OCTET_STRING, "a TSTInfo extension's value");
    reader.end();
    if (critical !== undefined && readBoolean(critical, "a TSTInfo extension's critical flag")) {
      throw new DerProblem(`the TSTInfo has a critical extension this verifier does not process (${id})`);
    }
  }
}

/**
 * RFC 3161 §2.3: the TSA's certificate has exactly one extended key usage, id-kp-timeStamping, and the extension is
 * critical. A keyUsage, when present, allows digitalSignature or nonRepudiation and nothing else, as OpenSSL's
 * timestamp-signing purpose does.
 */
function timestampingProblem(signer: CertificateFacts): string | undefined {
  const name = displayName(signer);
  const eku = signer.extensions.get(EXTENSION.extKeyUsage);
  if (eku === undefined) return `the TSA certificate ${name} has no extendedKeyUsage (RFC 3161 §2.3 requires timeStamping)`;
  if (!eku.critical) return `the TSA certificate ${name}'s extendedKeyUsage is not critical (RFC 3161 §2.3)`;
  const element = extensionValue(signer, EXTENSION.extKeyUsage, TAG.SEQUENCE, `${name}'s extendedKeyUsage`) as DerElement;
  const purposes = DerReader.of(element, `${name}'s extendedKeyUsage`).all(TAG.OID, "purpose").map((oid) => readOid(oid, "a key purpose"));
  if (purposes.length !== 1 || purposes[0] !== ID_KP_TIME_STAMPING) {
    return `the TSA certificate ${name}'s extendedKeyUsage is ${purposes.join(", ") || "empty"}, not timeStamping alone (RFC 3161 §2.3)`;
  }
  const usage = keyUsageBits(signer);
  if (usage === undefined) return undefined;
  const signing = bitIsSet(usage, KEY_USAGE.digitalSignature) || bitIsSet(usage, KEY_USAGE.nonRepudiation);
  const others = usage.bytes.some((byte, index) => (index === 0 ? byte & 0x3f : byte) !== 0);
  return signing && !others ? undefined : `the TSA certificate ${name}'s keyUsage is not digitalSignature or nonRepudiation alone`;
}

/** §2.4.2: the tsa field, when present, "MUST correspond to one of the subject names" of the TSA's certificate. */
function tsaNameProblem(info: TstInfo, signer: CertificateFacts): string | undefined {
  if (info.tsa === undefined) return undefined;
  if (generalNameText(info.tsa, signer) !== undefined) return undefined;
  return `the tsa field names another TSA than the signer's certificate (${displayName(signer)})`;
}

/** The tsa GeneralName as text when it is the signer's subject or one of its subjectAltNames, else undefined. */
function generalNameText(generalName: Buffer, signer: CertificateFacts): string | undefined {
  const element = readWhole(generalName, generalName[0] ?? 0, "the tsa's GeneralName");
  if (element.tag === contextConstructed(4) && readWhole(element.value, TAG.SEQUENCE, "the tsa's directoryName").bytes.equals(signer.subject)) {
    return displayName(signer);
  }
  const altNames = extensionValue(signer, EXTENSION.subjectAltName, TAG.SEQUENCE, `${displayName(signer)}'s subjectAltName`);
  const names = altNames === undefined ? [] : DerReader.of(altNames, "the subjectAltName").rest("GeneralName");
  if (!names.some((name) => name.bytes.equals(generalName))) return undefined;
  const prefix: Record<number, string> = { [contextPrimitive(1)]: "email:", [contextPrimitive(2)]: "DNS:", [contextPrimitive(6)]: "URI:" };
  const label = prefix[element.tag];
  return label === undefined ? `subjectAltName entry (tag 0x${element.tag.toString(16)})` : `${label}${element.value.toString("latin1")}`;
}

function failureNames(element: DerElement): string[] {
  const bits = readBitString(element, "the failInfo");
  const set: string[] = [];
  for (let bit = 0; bit < bits.bytes.length * 8; bit += 1) if (bitIsSet(bits, bit)) set.push(FAILURE_NAMES[bit] ?? `bit ${bit}`);
  return set;
}

/** The TSA's free text, quoted and cut short: it comes from the network and ends up in logs. */
function statusText(element: DerElement): string {
  const texts = DerReader.of(element, "the statusString").all(TAG.UTF8_STRING, "statusString").map((text) => text.value.toString("utf8"));
  const joined = texts.join(" ");
  return JSON.stringify(joined.length > STATUS_TEXT_CHARS ? `${joined.slice(0, STATUS_TEXT_CHARS)}…` : joined);
}

/** A Buffer nonce is an unsigned big-endian number; a negative bigint cannot be written (encodeInteger throws). */
function nonceValue(nonce: bigint | Buffer): bigint {
  if (typeof nonce === "bigint") return nonce;
  return nonce.length === 0 ? 0n : BigInt(`0x${nonce.toString("hex")}`);
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
