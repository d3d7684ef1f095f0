import { constants, createHash, verify } from "node:crypto";
import { displayName, EXTENSION, extensionValue, type CertificateFacts } from "./certificate-path.js";
import {
  contextConstructed,
  contextPrimitive,
  DerProblem,
  DerReader,
  integerContents,
  readNull,
  readOid,
  readSmallInteger,
  readWhole,
  TAG,
  type DerElement,
} from "./der.js";

/**
 * The CMS SignedData a timestamp token is (RFC 5652 §5, as RFC 3161 §2.4.2 narrows it), read strictly:
 *
 *   ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
 *   SignedData  ::= SEQUENCE { version 3, digestAlgorithms SET OF AlgorithmIdentifier,
 *                              encapContentInfo SEQUENCE { eContentType, eContent [0] EXPLICIT OCTET STRING },
 *                              certificates [0] IMPLICIT SET OF Certificate OPTIONAL,
 *                              crls [1] IMPLICIT OPTIONAL, signerInfos SET OF SignerInfo }       (exactly one)
 *   SignerInfo  ::= SEQUENCE { version, sid IssuerAndSerialNumber | [0] SubjectKeyIdentifier,
 *                              digestAlgorithm, signedAttrs [0] IMPLICIT SET OF Attribute,
 *                              signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1] IMPLICIT OPTIONAL }
 *
 * The signature covers the DER encoding of the signed attributes with the SET OF tag (0x31) in place of [0] (§5.4).
 * The attributes must already be in DER order (X.690 §11.6), so that encoding is the bytes in the token with their
 * first octet changed: re-sorting a token's attributes would give one token two spellings that both verify.
 */
export const HASHES: Readonly<Record<string, HashName>> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
export type HashName = "sha256" | "sha384" | "sha512";

export const CMS = {
  signedData: "1.2.840.113549.1.7.2",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingCertificate: "1.2.840.113549.1.9.16.2.12",
  signingCertificateV2: "1.2.840.113549.1.9.16.2.47",
} as const;

const SHA1 = "1.3.14.3.2.26";
const RSASSA_PSS = "1.2.840.113549.1.1.10";
const MGF1 = "1.2.840.113549.1.1.8";
type Scheme = "rsa-pkcs1" | "rsa-pss" | "ecdsa";
/** RFC 3370 §3.2, RFC 5754 §3, RFC 4056, RFC 5753 §7.2: a hash is named by the algorithm or taken from digestAlgorithm. */
const SIGNATURE_ALGORITHMS: Readonly<Record<string, { scheme: Scheme; hash?: HashName }>> = {
  "1.2.840.113549.1.1.1": { scheme: "rsa-pkcs1" },
  "1.2.840.113549.1.1.11": { scheme: "rsa-pkcs1", hash: "sha256" },
  "1.2.840.113549.1.1.12": { scheme: "rsa-pkcs1", hash: "sha384" },
  "1.2.840.113549.1.1.13": { scheme: "rsa-pkcs1", hash: "sha512" },
  [RSASSA_PSS]: { scheme: "rsa-pss" },
  "1.2.840.10045.4.3.2": { scheme: "ecdsa", hash: "sha256" },
  "1.2.840.10045.4.3.3": { scheme: "ecdsa", hash: "sha384" },
  "1.2.840.10045.4.3.4": { scheme: "ecdsa", hash: "sha512" },
};
const KEY_TYPES: Readonly<Record<Scheme, readonly string[]>> = { "rsa-pkcs1": ["rsa"], "rsa-pss": ["rsa", "rsa-pss"], ecdsa: ["ec"] };

export interface SignedData {
  eContentType: string;
  eContent: Buffer;
  /** Every certificate the token carries, as DER. */
  certificates: Buffer[];
  signerInfo: SignerInfo;
}

export interface SignerInfo {
  sid: { issuer: Buffer; serial: Buffer } | { subjectKeyIdentifier: Buffer };
  digestAlgorithm: HashName;
  /** Each signed attribute's values, by attribute type. */
  signedAttributes: ReadonlyMap<string, DerElement[]>;
  /** What the signature covers: the signed attributes as a DER SET OF. */
  signedBytes: Buffer;
  signature: { scheme: Scheme; hash: HashName; saltLength: number | undefined; value: Buffer };
}

/** Reads a token's ContentInfo and SignedData; throws DerProblem naming what is malformed. */
export function readSignedData(token: Buffer): SignedData {
  const contentInfo = DerReader.of(readWhole(token, TAG.SEQUENCE, "the token"), "the token's ContentInfo");
  const contentType = readOid(contentInfo.next(TAG.OID, "the token's contentType"), "the token's contentType");
  if (contentType !== CMS.signedData) throw new DerProblem(`the token's contentType is ${contentType}, not id-signedData`);
  const explicit = DerReader.of(contentInfo.next(contextConstructed(0), "the token's content"), "the token's content");
  const signedData = DerReader.of(explicit.next(TAG.SEQUENCE, "the SignedData"), "the SignedData");
  explicit.end();
  contentInfo.end();
  const version = readSmallInteger(signedData.next(TAG.INTEGER, "the SignedData's version"), "the SignedData's version");
  // RFC 5652 §5.1: 3 whenever eContentType is not id-data and only X.509 certificates are carried.
  if (version !== 3) throw new DerProblem(`the SignedData's version is ${version}, not 3`);
  const digestAlgorithms = DerReader.of(signedData.next(TAG.SET, "the digestAlgorithms"), "the digestAlgorithms")
    .all(TAG.SEQUENCE, "digestAlgorithm")
    .map((element, index) => hashAlgorithm(element, `the digestAlgorithms' entry ${index + 1}`));
  const encapsulated = DerReader.of(signedData.next(TAG.SEQUENCE, "the encapContentInfo"), "the encapContentInfo");
  const eContentType = readOid(encapsulated.next(TAG.OID, "the eContentType"), "the eContentType");
  const wrapper = DerReader.of(encapsulated.next(contextConstructed(0), "the eContent"), "the eContent");
  const eContent = wrapper.next(TAG.OCTET_STRING, "the eContent").value;
  wrapper.end();
  encapsulated.end();
  const certificateSet = signedData.optional(contextConstructed(0), "the certificates");
  const certificates =
    certificateSet === undefined ? [] : DerReader.of(certificateSet, "the certificates").all(TAG.SEQUENCE, "certificate").map((cert) => cert.bytes);
  signedData.optional(contextConstructed(1), "the crls");
  const signerInfos = DerReader.of(signedData.next(TAG.SET, "the signerInfos"), "the signerInfos").all(TAG.SEQUENCE, "signerInfo");
  signedData.end();
  // RFC 3161 §2.4.2: "The time-stamp token MUST NOT contain any signatures other than the signature of the TSA."
  if (signerInfos.length !== 1) throw new DerProblem(`the token has ${signerInfos.length} signerInfos, not exactly one`);
  const signerInfo = readSignerInfo(signerInfos[0] as DerElement);
  if (!digestAlgorithms.includes(signerInfo.digestAlgorithm)) {
    throw new DerProblem(`the digestAlgorithms do not list the signer's digest algorithm (${signerInfo.digestAlgorithm})`);
  }
  return { eContentType, eContent, certificates, signerInfo };
}

function readSignerInfo(element: DerElement): SignerInfo {
  const reader = DerReader.of(element, "the signerInfo");
  const version = readSmallInteger(reader.next(TAG.INTEGER, "the signerInfo's version"), "the signerInfo's version");
  const sid = readSignerIdentifier(reader);
  // RFC 5652 §5.3: version 1 goes with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
  if (version !== ("issuer" in sid ? 1 : 3)) throw new DerProblem(`the signerInfo's version ${version} does not match its kind of sid`);
  const digestAlgorithm = hashAlgorithm(reader.next(TAG.SEQUENCE, "the signer's digestAlgorithm"), "the signer's digestAlgorithm");
  const attributesField = reader.next(contextConstructed(0), "the signedAttrs");
  const signatureAlgorithm = reader.next(TAG.SEQUENCE, "the signatureAlgorithm");
  const value = reader.next(TAG.OCTET_STRING, "the signature").value;
  reader.optional(contextConstructed(1), "the unsignedAttrs");
  reader.end();
  return {
    sid,
    digestAlgorithm,
    signedAttributes: readSignedAttributes(attributesField),
    signedBytes: Buffer.concat([Buffer.from([TAG.SET]), attributesField.bytes.subarray(1)]),
    signature: { ...readSignatureAlgorithm(signatureAlgorithm, digestAlgorithm), value },
  };
}

function readSignerIdentifier(reader: DerReader): SignerInfo["sid"] {
  const keyId = reader.optional(contextPrimitive(0), "the sid's subjectKeyIdentifier");
  if (keyId !== undefined) return { subjectKeyIdentifier: keyId.value };
  const sid = DerReader.of(reader.next(TAG.SEQUENCE, "the sid's issuerAndSerialNumber"), "the sid");
  const issuer = sid.next(TAG.SEQUENCE, "the sid's issuer").bytes;
  const serial = integerContents(sid.next(TAG.INTEGER, "the sid's serialNumber"), "the sid's serialNumber");
  sid.end();
  return { issuer, serial };
}

/** RFC 5754 §2: a SHA-2 AlgorithmIdentifier has absent or NULL parameters; SHA-1 and others are refused. */
export function hashAlgorithm(element: DerElement, what: string): HashName {
  const { oid, parameters } = readAlgorithm(element, what);
  const hash = HASHES[oid];
  if (hash === undefined) throw new DerProblem(`${what} is ${oid === SHA1 ? "SHA-1, which is not accepted" : oid}, not SHA-256, SHA-384 or SHA-512`);
  if (parameters !== undefined) readNull(parameters, `${what}'s parameters`);
  return hash;
}

function readAlgorithm(element: DerElement, what: string): { oid: string; parameters: DerElement | undefined } {
  const reader = DerReader.of(element, what);
  const oid = readOid(reader.next(TAG.OID, `${what}'s algorithm`), `${what}'s algorithm`);
  const parameters = reader.atEnd() ? undefined : reader.any(`${what}'s parameters`);
  reader.end();
  return { oid, parameters };
}

/** X.690 §11.6: a SET OF in ascending order of the encodings, a shorter one compared as if padded with zeros. */
function derSetOrder(a: Buffer, b: Buffer): number {
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function readSignedAttributes(field: DerElement): Map<string, DerElement[]> {
  const attributes = new Map<string, DerElement[]>();
  const elements = DerReader.of(field, "the signedAttrs").all(TAG.SEQUENCE, "signed attribute");
  for (const [index, element] of elements.entries()) {
    if (index > 0 && derSetOrder((elements[index - 1] as DerElement).bytes, element.bytes) > 0) {
      throw new DerProblem("the signed attributes are not in DER order, so the bytes in the token are not the ones signed");
    }
    const reader = DerReader.of(element, "a signed attribute");
    const type = readOid(reader.next(TAG.OID, "a signed attribute's type"), "a signed attribute's type");
    const values = DerReader.of(reader.next(TAG.SET, `the ${type} attribute's values`), `the ${type} attribute's values`).rest("value");
    reader.end();
    if (values.length === 0) throw new DerProblem(`the signed attribute ${type} has no value`);
    if (attributes.has(type)) throw new DerProblem(`the signed attribute ${type} appears twice`);
    attributes.set(type, values);
  }
  return attributes;
}

function readSignatureAlgorithm(element: DerElement, digest: HashName): Omit<SignerInfo["signature"], "value"> {
  const { oid, parameters } = readAlgorithm(element, "the signatureAlgorithm");
  const known = SIGNATURE_ALGORITHMS[oid];
  if (known === undefined) throw new DerProblem(`the signatureAlgorithm ${oid} is not RSA PKCS #1 v1.5, RSA-PSS or ECDSA with SHA-2`);
  if (known.scheme === "rsa-pss") return { scheme: "rsa-pss", ...readPssParameters(parameters, digest) };
  // RFC 5754 §3.2: ECDSA has no parameters; RFC 3370 §3.2: RSA's are NULL (absent is accepted as many signers write it).
  if (parameters !== undefined && known.scheme === "ecdsa") throw new DerProblem("the ECDSA signatureAlgorithm has parameters");
  if (parameters !== undefined) readNull(parameters, "the signatureAlgorithm's parameters");
  if (known.hash !== undefined && known.hash !== digest) {
    throw new DerProblem(`the signatureAlgorithm hashes with ${known.hash} but the digestAlgorithm is ${digest}`);
  }
  return { scheme: known.scheme, hash: digest, saltLength: undefined };
}

/** RFC 4055 §3.1 RSASSA-PSS-params: the hash and MGF1's hash named (SHA-1 defaults refused), trailerField 1. */
function readPssParameters(parameters: DerElement | undefined, digest: HashName): { hash: HashName; saltLength: number } {
  if (parameters === undefined || parameters.tag !== TAG.SEQUENCE) throw new DerProblem("the RSASSA-PSS signatureAlgorithm has no parameters");
  const reader = DerReader.of(parameters, "the RSASSA-PSS parameters");
  const explicit = (n: number, what: string) => {
    const field = reader.optional(contextConstructed(n), what);
    if (field === undefined) return undefined;
    const inner = DerReader.of(field, what);
    const element = inner.any(what);
    inner.end();
    return element;
  };
  const hashField = explicit(0, "the RSASSA-PSS hashAlgorithm");
  const maskField = explicit(1, "the RSASSA-PSS maskGenAlgorithm");
  const saltField = explicit(2, "the RSASSA-PSS saltLength");
  const trailerField = explicit(3, "the RSASSA-PSS trailerField");
  reader.end();
  if (hashField === undefined || maskField === undefined) throw new DerProblem("the RSASSA-PSS parameters leave the hash at its SHA-1 default");
  const hash = hashAlgorithm(hashField, "the RSASSA-PSS hashAlgorithm");
  const mask = readAlgorithm(maskField, "the RSASSA-PSS maskGenAlgorithm");
  if (mask.oid !== MGF1 || mask.parameters === undefined) throw new DerProblem("the RSASSA-PSS maskGenAlgorithm is not MGF1 with a hash");
  if (hashAlgorithm(mask.parameters, "the MGF1 hash") !== hash) throw new DerProblem("the RSASSA-PSS MGF1 hash differs from its hash");
  if (hash !== digest) throw new DerProblem(`the RSASSA-PSS hash is ${hash} but the digestAlgorithm is ${digest}`);
  const saltLength = saltField === undefined ? 20 : readSmallInteger(saltField, "the RSASSA-PSS saltLength");
  if (trailerField !== undefined && readSmallInteger(trailerField, "the RSASSA-PSS trailerField") !== 1) {
    throw new DerProblem("the RSASSA-PSS trailerField is not 1");
  }
  return { hash, saltLength };
}

/** The certificate the sid names, among the token's: by issuer and serial number, or by subject key identifier. */
export function findSignerCertificate(info: SignerInfo, certificates: readonly CertificateFacts[]): CertificateFacts | undefined {
  const { sid } = info;
  return certificates.find((facts) => {
    if ("issuer" in sid) return facts.issuer.equals(sid.issuer) && facts.serial.equals(sid.serial);
    const keyId = extensionValue(facts, EXTENSION.subjectKeyIdentifier, TAG.OCTET_STRING, `${displayName(facts)}'s subjectKeyIdentifier`);
    return keyId !== undefined && keyId.value.equals(sid.subjectKeyIdentifier);
  });
}

/** The one value of a signed attribute that must have exactly one (RFC 5652 §11.1, §11.2; RFC 5035 §5.4). */
export function singleValue(info: SignerInfo, type: string, name: string): DerElement | undefined {
  const values = info.signedAttributes.get(type);
  if (values === undefined) return undefined;
  if (values.length !== 1) throw new DerProblem(`the ${name} attribute has ${values.length} values, not one`);
  return values[0];
}

/** RFC 5652 §11.1, §11.2: content-type names the eContentType, message-digest is the digest of the eContent. */
export function signedAttributesProblem(signed: SignedData): string | undefined {
  const info = signed.signerInfo;
  const contentType = singleValue(info, CMS.contentType, "content-type");
  if (contentType === undefined) return "the signed attributes have no content-type";
  const named = readOid(readWhole(contentType.bytes, TAG.OID, "the content-type attribute"), "the content-type attribute");
  if (named !== signed.eContentType) return `the content-type attribute names ${named}, not the eContentType ${signed.eContentType}`;
  const digest = singleValue(info, CMS.messageDigest, "message-digest");
  if (digest === undefined) return "the signed attributes have no message-digest";
  const claimed = readWhole(digest.bytes, TAG.OCTET_STRING, "the message-digest attribute").value;
  const actual = createHash(info.digestAlgorithm).update(signed.eContent).digest();
  if (!claimed.equals(actual)) return "the message-digest attribute is not the digest of the TSTInfo: the TSTInfo was changed";
  return undefined;
}

/** Whether the signature over the signed attributes verifies with the signer's key, of the kind the algorithm needs. */
export function signatureProblem(info: SignerInfo, signer: CertificateFacts): string | undefined {
  const { scheme, hash, saltLength, value } = info.signature;
  let verified = false;
  try {
    const key = signer.x509.publicKey;
    const keyType = key.asymmetricKeyType ?? "unknown";
    if (!KEY_TYPES[scheme].includes(keyType)) return `the signature is ${scheme} but the signer's key is ${keyType}`;
    const options =
      scheme === "rsa-pss"
        ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }
        : scheme === "ecdsa"
          ? { key, dsaEncoding: "der" as const }
          : { key, padding: constants.RSA_PKCS1_PADDING };
    verified = verify(hash, info.signedBytes, options, value);
  } catch {
    verified = false;
  }
  return verified ? undefined : "the signature over the signed attributes does not verify with the signer's certificate";
}

/**
 * RFC 3161 §2.4.1 (as RFC 5816 updates it): the signed attributes identify the TSA's certificate in a
 * signingCertificate (ESSCertID, SHA-1) or signingCertificateV2 (ESSCertIDv2) attribute, whose first entry must be
 * the certificate that verifies the signature (RFC 2634 §5.4, RFC 5035 §3). Both, when present, are checked.
 */
export function signingCertificateProblem(info: SignerInfo, signer: CertificateFacts): string | undefined {
  const v1 = singleValue(info, CMS.signingCertificate, "signingCertificate");
  const v2 = singleValue(info, CMS.signingCertificateV2, "signingCertificateV2");
  if (v1 === undefined && v2 === undefined) return "the signed attributes have no signingCertificate or signingCertificateV2 (RFC 3161 §2.4.1)";
  const v1Problem = v1 === undefined ? undefined : essCertIdProblem(v1, signer, "signingCertificate");
  return v1Problem ?? (v2 === undefined ? undefined : essCertIdProblem(v2, signer, "signingCertificateV2"));
}

function essCertIdProblem(value: DerElement, signer: CertificateFacts, name: string): string | undefined {
  const attribute = DerReader.of(value, name);
  const certs = DerReader.of(attribute.next(TAG.SEQUENCE, `the ${name}'s certs`), `the ${name}'s certs`).all(TAG.SEQUENCE, "ESSCertID");
  attribute.optional(TAG.SEQUENCE, `the ${name}'s policies`);
  attribute.end();
  const first = certs[0];
  if (first === undefined) return `the ${name} attribute identifies no certificate`;
  const id = DerReader.of(first, `the ${name}'s first ESSCertID`);
  const hashField = name === "signingCertificateV2" ? id.optional(TAG.SEQUENCE, `the ${name}'s hashAlgorithm`) : undefined;
  // ESSCertID hashes with SHA-1 (RFC 2634 §5.4.1); ESSCertIDv2 with SHA-256 unless it names another (RFC 5035 §4).
  const hash = name === "signingCertificate" ? "sha1" : hashField === undefined ? "sha256" : hashAlgorithm(hashField, `the ${name}'s hashAlgorithm`);
  const certHash = id.next(TAG.OCTET_STRING, `the ${name}'s certHash`).value;
  const issuerSerial = id.optional(TAG.SEQUENCE, `the ${name}'s issuerSerial`);
  id.end();
  if (!certHash.equals(createHash(hash).update(signer.der).digest())) {
    return `the ${name} attribute identifies another certificate than the signer's (${displayName(signer)})`;
  }
  return issuerSerial === undefined ? undefined : issuerSerialProblem(issuerSerial, signer, name);
}

/** IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber }: a directoryName [4] must be the signer's issuer. */
function issuerSerialProblem(element: DerElement, signer: CertificateFacts, name: string): string | undefined {
  const reader = DerReader.of(element, `the ${name}'s issuerSerial`);
  const names = DerReader.of(reader.next(TAG.SEQUENCE, `the ${name}'s issuer`), `the ${name}'s issuer`).rest("GeneralName");
  const serial = integerContents(reader.next(TAG.INTEGER, `the ${name}'s serialNumber`), `the ${name}'s serialNumber`);
  reader.end();
  const directoryNames = names
    .filter((general) => general.tag === contextConstructed(4))
    .map((general) => readWhole(general.value, TAG.SEQUENCE, "a directoryName").bytes);
  if (!serial.equals(signer.serial) || !directoryNames.some((issuer) => issuer.equals(signer.issuer))) {
    return `the ${name} attribute's issuerSerial is not the signer certificate's issuer and serial number`;
  }
  return undefined;
}
