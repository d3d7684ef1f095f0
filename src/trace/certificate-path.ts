import { X509Certificate } from "node:crypto";
import {
  bitIsSet,
  contextConstructed,
  contextPrimitive,
  DerProblem,
  DerReader,
  integerContents,
  readBitString,
  readBoolean,
  readGeneralizedTime,
  readOid,
  readUtcTime,
  readWhole,
  TAG,
  type DerElement,
} from "./der.js";

/**
 * X.509 certificates as an offline verifier of timestamp tokens needs them (RFC 5280). node:crypto's X509Certificate
 * checks signatures and hands out public keys; it does not say whether an extension is critical, and Node 20 gives
 * validity dates only as display text. So the fields a path check needs are read here from the certificate's DER:
 *
 *   Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, serialNumber INTEGER, signature,
 *                                 issuer Name, validity SEQUENCE { notBefore, notAfter }, subject Name,
 *                                 subjectPublicKeyInfo, issuerUniqueID [1], subjectUniqueID [2],
 *                                 extensions [3] EXPLICIT SEQUENCE OF Extension }          (§4.1)
 *   Extension    ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 *
 * Names are compared as DER bytes, not with RFC 5280 §7.1's case-insensitive matching: a CA that spells its own
 * name two ways is refused rather than matched loosely.
 */
export interface CertificateFacts {
  der: Buffer;
  x509: X509Certificate;
  /** The serial number's INTEGER contents octets. */
  serial: Buffer;
  /** The issuer's and the subject's Name, as DER. */
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: ReadonlyMap<string, { critical: boolean; value: Buffer }>;
}

export const EXTENSION = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
} as const;

/** §4.2: a critical extension the verifier does not process fails the certificate; these are the ones processed. */
const PROCESSED = new Set<string>(Object.values(EXTENSION));
/** Signer, intermediates, trust anchor: more than this is refused rather than searched. */
const MAX_PATH_LENGTH = 8;
/** §4.2.1.3 KeyUsage bits. */
export const KEY_USAGE = { digitalSignature: 0, nonRepudiation: 1, keyCertSign: 5 } as const;

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Reads a certificate's DER; throws DerProblem naming the field that is malformed. */
export function certificateFacts(der: Buffer, what: string): CertificateFacts {
  const certificate = DerReader.of(readWhole(der, TAG.SEQUENCE, what), what);
  const tbs = DerReader.of(certificate.next(TAG.SEQUENCE, `${what}'s tbsCertificate`), `${what}'s tbsCertificate`);
  certificate.next(TAG.SEQUENCE, `${what}'s signatureAlgorithm`);
  certificate.next(TAG.BIT_STRING, `${what}'s signatureValue`);
  certificate.end();
  tbs.optional(contextConstructed(0), `${what}'s version`);
  const serial = integerContents(tbs.next(TAG.INTEGER, `${what}'s serialNumber`), `${what}'s serialNumber`);
  tbs.next(TAG.SEQUENCE, `${what}'s signature algorithm`);
  const issuer = tbs.next(TAG.SEQUENCE, `${what}'s issuer`).bytes;
  const validity = DerReader.of(tbs.next(TAG.SEQUENCE, `${what}'s validity`), `${what}'s validity`);
  const notBefore = readTime(validity.any(`${what}'s notBefore`), `${what}'s notBefore`);
  const notAfter = readTime(validity.any(`${what}'s notAfter`), `${what}'s notAfter`);
  validity.end();
  const subject = tbs.next(TAG.SEQUENCE, `${what}'s subject`).bytes;
  tbs.next(TAG.SEQUENCE, `${what}'s subjectPublicKeyInfo`);
  tbs.optional(contextPrimitive(1), `${what}'s issuerUniqueID`);
  tbs.optional(contextPrimitive(2), `${what}'s subjectUniqueID`);
  const extensionsField = tbs.optional(contextConstructed(3), `${what}'s extensions`);
  tbs.end();
  const extensions = extensionsField === undefined ? new Map() : readExtensions(extensionsField, what);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    throw new DerProblem(`${what} is not a certificate node:crypto can read`);
  }
  return { der, x509, serial, issuer, subject, notBefore, notAfter, extensions };
}

/** Every certificate in PEM text (one file may hold several); throws DerProblem when one does not read. */
export function certificatesFromPem(pem: string, what: string): CertificateFacts[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new DerProblem(`${what} holds no PEM certificate`);
  return blocks.map((block, index) => {
    const text = (block[1] as string).replace(/\s+/g, "");
    const der = Buffer.from(text, "base64");
    if (der.toString("base64") !== text) throw new DerProblem(`${what}'s certificate ${index + 1} is not valid base64`);
    return certificateFacts(der, `${what}'s certificate ${index + 1}`);
  });
}

/** A certificate's subject as people read it (`CN=Example TSA, O=Example`). */
export function displayName(facts: CertificateFacts): string {
  return facts.x509.subject.split("\n").join(", ");
}

function readTime(element: DerElement, what: string): Date {
  if (element.tag === TAG.UTC_TIME) return readUtcTime(element, what);
  if (element.tag === TAG.GENERALIZED_TIME) return readGeneralizedTime(element, what);
  throw new DerProblem(`${what} is neither a UTCTime nor a GeneralizedTime`);
}

function readExtensions(field: DerElement, what: string): Map<string, { critical: boolean; value: Buffer }> {
  const outer = DerReader.of(field, `${what}'s extensions`);
  const list = outer.next(TAG.SEQUENCE, `${what}'s extensions`);
  outer.end();
  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  for (const element of DerReader.of(list, `${what}'s extensions`).all(TAG.SEQUENCE, `${what}'s extension`)) {
    const reader = DerReader.of(element, `${what}'s extension`);
    const id = readOid(reader.next(TAG.OID, `${what}'s extnID`), `${what}'s extnID`);
    const criticalField = reader.optional(TAG.BOOLEAN, `${what}'s extension ${id} critical flag`);
    const critical = criticalField !== undefined && readBoolean(criticalField, `${what}'s extension ${id} critical flag`);
    const value = reader.next(TAG.OCTET_STRING, `${what}'s extension ${id} value`).value;
    reader.end();
    // §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
    if (extensions.has(id)) throw new DerProblem(`${what} has the extension ${id} twice`);
    extensions.set(id, { critical, value });
  }
  return extensions;
}

/** The extension's value read as one element of `tag`, or undefined when the certificate has no such extension. */
export function extensionValue(facts: CertificateFacts, id: string, tag: number, what: string): DerElement | undefined {
  const extension = facts.extensions.get(id);
  return extension === undefined ? undefined : readWhole(extension.value, tag, what);
}

export function keyUsageBits(facts: CertificateFacts): { bytes: Buffer } | undefined {
  const element = extensionValue(facts, EXTENSION.keyUsage, TAG.BIT_STRING, `${displayName(facts)}'s keyUsage`);
  return element === undefined ? undefined : readBitString(element, `${displayName(facts)}'s keyUsage`);
}

/** §4.2.1.9: { cA, pathLenConstraint }; a certificate without the extension is no CA. */
function basicConstraints(facts: CertificateFacts): { ca: boolean; pathLength: bigint | undefined } {
  const what = `${displayName(facts)}'s basicConstraints`;
  const element = extensionValue(facts, EXTENSION.basicConstraints, TAG.SEQUENCE, what);
  if (element === undefined) return { ca: false, pathLength: undefined };
  const reader = DerReader.of(element, what);
  const caField = reader.optional(TAG.BOOLEAN, `${what} cA`);
  const lengthField = reader.optional(TAG.INTEGER, `${what} pathLenConstraint`);
  reader.end();
  const pathLength = lengthField === undefined ? undefined : BigInt(`0x${integerContents(lengthField, what).toString("hex")}`);
  return { ca: caField !== undefined && readBoolean(caField, `${what} cA`), pathLength };
}

function validAt(facts: CertificateFacts, at: Date): string | undefined {
  if (facts.notBefore <= at && at <= facts.notAfter) return undefined;
  const when = `${facts.notBefore.toISOString()} to ${facts.notAfter.toISOString()}`;
  return `the certificate ${displayName(facts)} is not valid at ${at.toISOString()} (it is valid from ${when})`;
}

function unprocessedCritical(facts: CertificateFacts): string | undefined {
  const unknown = [...facts.extensions].filter(([id, { critical }]) => critical && !PROCESSED.has(id)).map(([id]) => id);
  if (unknown.length === 0) return undefined;
  return `the certificate ${displayName(facts)} has a critical extension this verifier does not process (${unknown.join(", ")})`;
}

/** §4.2.1.9, §4.2.1.3: an issuer is a CA allowed to sign certificates, with room for the CAs below it. */
function issuerProblem(issuer: CertificateFacts, casBelow: number): string | undefined {
  const { ca, pathLength } = basicConstraints(issuer);
  if (!ca) return `the certificate ${displayName(issuer)} is not a CA certificate (basicConstraints cA is not TRUE)`;
  if (pathLength !== undefined && pathLength < BigInt(casBelow)) {
    return `the CA certificate ${displayName(issuer)} allows ${pathLength} CAs below it, not ${casBelow}`;
  }
  const usage = keyUsageBits(issuer);
  if (usage !== undefined && !bitIsSet(usage, KEY_USAGE.keyCertSign)) {
    return `the CA certificate ${displayName(issuer)} may not sign certificates (keyUsage lacks keyCertSign)`;
  }
  return undefined;
}

function signatureProblem(subject: CertificateFacts, issuer: CertificateFacts): string | undefined {
  let verified = false;
  try {
    verified = subject.x509.verify(issuer.x509.publicKey);
  } catch {
    verified = false;
  }
  return verified ? undefined : `the signature on the certificate ${displayName(subject)} does not verify with the key of ${displayName(issuer)}`;
}

/**
 * A path from `leaf` to one of `trusted`, through certificates from either list, every one valid at `at` (the time
 * the token claims, not now: a TSA certificate that expired after it signed still proves the time it signed at).
 * Each link: the issuer's subject is the subject's issuer, the issuer's key verifies the subject's signature, the
 * issuer is a CA that may sign certificates. A trusted certificate ends the path, so an operator may trust the TSA's
 * own certificate. Revocation is not checked: that needs CRLs or OCSP answers from the time, which a token lacks.
 */
export function pathToTrusted(
  leaf: CertificateFacts,
  untrusted: readonly CertificateFacts[],
  trusted: readonly CertificateFacts[],
  at: Date,
): Checked<CertificateFacts[]> {
  const candidates = uniqueByDer([...trusted, ...untrusted]);
  const isTrusted = (facts: CertificateFacts) => trusted.some((anchor) => anchor.der.equals(facts.der));
  const extend = (path: CertificateFacts[]): Checked<CertificateFacts[]> => {
    const current = path[path.length - 1] as CertificateFacts;
    const problem = validAt(current, at) ?? unprocessedCritical(current);
    if (problem !== undefined) return { ok: false, reason: problem };
    if (isTrusted(current)) return { ok: true, value: path };
    if (path.length >= MAX_PATH_LENGTH) return { ok: false, reason: `no trusted certificate within ${MAX_PATH_LENGTH} certificates of the signer's` };
    const inPath = (facts: CertificateFacts) => path.some((member) => member.der.equals(facts.der));
    const issuers = candidates.filter((issuer) => issuer.subject.equals(current.issuer) && !inPath(issuer));
    let failure: string | undefined;
    for (const issuer of issuers) {
      const linkProblem = issuerProblem(issuer, path.length - 1) ?? signatureProblem(current, issuer);
      const result = linkProblem === undefined ? extend([...path, issuer]) : { ok: false as const, reason: linkProblem };
      if (result.ok) return result;
      failure ??= result.reason;
    }
    const issuerName = current.x509.issuer.split("\n").join(", ");
    if (failure !== undefined) return { ok: false, reason: failure };
    const reason = `the certificate ${displayName(current)} is not trusted, nor issued by a trusted certificate or one in the token`;
    return { ok: false, reason: `${reason} (its issuer is ${issuerName})` };
  };
  return extend([leaf]);
}

function uniqueByDer(list: readonly CertificateFacts[]): CertificateFacts[] {
  return list.filter((facts, index) => list.findIndex((other) => other.der.equals(facts.der)) === index);
}
