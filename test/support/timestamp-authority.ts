import { spawnSync } from "node:child_process";
import { constants, createHash, sign, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { tempDir } from "./temp-dirs.js";

/**
 * A local PKI and timestamp authority made with the openssl command (3.0 or later), no network: a CA issues
 * certificates with `openssl ca` (so validity dates can lie in the past or the future), `openssl ts -reply` answers
 * TimeStampReqs, and `openssl ts -verify` is the independent verifier the tests compare ours with.
 *
 * OpenSSL refuses to sign a token with a certificate that lacks the timeStamping purpose, so tokens by such
 * certificates are built here instead (`signTstInfo`), with a DER writer and reader of this file's own, over a TSTInfo
 * OpenSSL made. Nothing here uses src/trace: a test that built its tokens with the code under test could not catch
 * what that code leaves out.
 */
export interface Issued {
  name: string;
  certFile: string;
  keyFile: string;
  pem: string;
  der: Buffer;
  keyPem: string;
}

export type KeyKind = "rsa" | "ec-p256" | "ec-p384";

export interface IssueOptions {
  /** Lines of an openssl extension file (`extendedKeyUsage = critical,timeStamping`). */
  extensions: string[];
  key?: KeyKind;
  notBefore?: Date;
  notAfter?: Date;
}

export const TSA_EXTENSIONS = ["extendedKeyUsage = critical,timeStamping", "keyUsage = critical,digitalSignature", "subjectKeyIdentifier = hash"];
export const CA_EXTENSIONS = ["basicConstraints = critical,CA:TRUE", "keyUsage = critical,keyCertSign,cRLSign", "subjectKeyIdentifier = hash"];
const DAY_MS = 86_400_000;

export function openssl(args: string[], cwd: string): { status: number; stdout: string; stderr: string } {
  const run = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

function mustRun(args: string[], cwd: string): string {
  const run = openssl(args, cwd);
  if (run.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${run.stderr}`);
  return run.stdout;
}

/** A certificate authority in its own directory: a self-signed root that issues with `openssl ca`. */
export class TestCa {
  readonly root: Issued;
  private count = 0;

  constructor(
    readonly dir: string,
    name: string,
  ) {
    mkdirSync(join(dir, "issued"));
    writeFileSync(join(dir, "index.txt"), "");
    writeFileSync(join(dir, "serial"), "1000\n");
    const keyFile = makeKey(dir, "root", "rsa");
    const certFile = join(dir, "root.pem");
    writeFileSync(join(dir, "root.ext"), `${CA_EXTENSIONS.join("\n")}\n`);
    mustRun(["req", "-x509", "-new", "-key", keyFile, "-subj", `/CN=${name}`, "-days", "3650", "-out", certFile, "-config", writeReqConfig(dir), "-extensions", "v3"], dir);
    this.root = issued(name, certFile, keyFile);
    writeFileSync(join(dir, "ca.cnf"), caConfig(this.root));
  }

  static create(name: string): TestCa {
    return new TestCa(tempDir("aos-tsa-ca"), name);
  }

  /** A certificate for `name`, signed by `issuer` (the root unless given), valid from a day ago for a year by default. */
  issue(name: string, options: IssueOptions, issuer: Issued = this.root): Issued {
    this.count += 1;
    const base = join(this.dir, `cert-${this.count}`);
    const keyFile = makeKey(this.dir, `cert-${this.count}`, options.key ?? "rsa");
    mustRun(["req", "-new", "-key", keyFile, "-subj", `/CN=${name}`, "-out", `${base}.csr`, "-config", writeReqConfig(this.dir)], this.dir);
    writeFileSync(`${base}.ext`, `${options.extensions.join("\n")}\n`);
    const now = Date.now();
    const notBefore = options.notBefore ?? new Date(now - DAY_MS);
    const notAfter = options.notAfter ?? new Date(now + 365 * DAY_MS);
    const args = ["ca", "-batch", "-config", "ca.cnf", "-notext", "-in", `${base}.csr`, "-out", `${base}.pem`, "-extfile", `${base}.ext`];
    args.push("-cert", issuer.certFile, "-keyfile", issuer.keyFile, "-startdate", asn1Time(notBefore), "-enddate", asn1Time(notAfter));
    mustRun(args, this.dir);
    return issued(name, `${base}.pem`, keyFile);
  }
}

function makeKey(dir: string, base: string, kind: KeyKind): string {
  const file = join(dir, `${base}.key`);
  const args = kind === "rsa" ? ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] : ["-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${kind === "ec-p256" ? "P-256" : "P-384"}`];
  mustRun(["genpkey", ...args, "-out", file], dir);
  return file;
}

function writeReqConfig(dir: string): string {
  const file = join(dir, "req.cnf");
  if (!existsSync(file)) writeFileSync(file, `[ req ]\ndistinguished_name = dn\n[ dn ]\n[ v3 ]\n${CA_EXTENSIONS.join("\n")}\n`);
  return file;
}

function caConfig(root: Issued): string {
  return [
    "[ ca ]",
    "default_ca = test_ca",
    "[ test_ca ]",
    "database = ./index.txt",
    "new_certs_dir = ./issued",
    "serial = ./serial",
    `certificate = ${root.certFile}`,
    `private_key = ${root.keyFile}`,
    "default_md = sha256",
    "policy = any_name",
    "unique_subject = no",
    "copy_extensions = none",
    "[ any_name ]",
    "commonName = supplied",
    "",
  ].join("\n");
}

function issued(name: string, certFile: string, keyFile: string): Issued {
  const pem = readFileSync(certFile, "utf8");
  return { name, certFile, keyFile, pem, der: new X509Certificate(pem).raw, keyPem: readFileSync(keyFile, "utf8") };
}

/** openssl ca's -startdate/-enddate form, YYYYMMDDHHMMSSZ. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}

export interface TsaOptions {
  /** The digests the TSA accepts (a TSA that accepts only sha512 rejects our SHA-256 requests). */
  digests?: string;
  /** Certificates (PEM files) the token carries besides the signer's: an intermediate CA. */
  chainFile?: string;
}

/** A timestamp authority run by `openssl ts -reply` with the given signer. */
export class TestTsa {
  readonly configFile: string;
  private count = 0;

  constructor(
    readonly dir: string,
    readonly signer: Issued,
    options: TsaOptions = {},
  ) {
    this.configFile = join(dir, "tsa.cnf");
    writeFileSync(join(dir, "tsa-serial"), "01\n");
    const lines = [
      "[ tsa_config ]",
      "serial = ./tsa-serial",
      `signer_cert = ${signer.certFile}`,
      `signer_key = ${signer.keyFile}`,
      "signer_digest = sha256",
      "default_policy = 1.3.6.1.4.1.55555.1",
      `digests = ${options.digests ?? "sha256, sha384, sha512"}`,
      "accuracy = secs:1, millisecs:500, microsecs:100",
      "clock_precision_digits = 3",
      "ordering = yes",
      "tsa_name = yes",
      "ess_cert_id_chain = no",
      "ess_cert_id_alg = sha256",
      ...(options.chainFile === undefined ? [] : [`certs = ${options.chainFile}`]),
      "",
    ];
    writeFileSync(this.configFile, lines.join("\n"));
  }

  /** The TimeStampResp OpenSSL gives for a DER TimeStampReq (a rejection is a reply too). */
  reply(query: Buffer): Buffer {
    this.count += 1;
    const queryFile = join(this.dir, `query-${this.count}.tsq`);
    const replyFile = join(this.dir, `reply-${this.count}.tsr`);
    writeFileSync(queryFile, query);
    const run = openssl(["ts", "-reply", "-queryfile", queryFile, "-config", this.configFile, "-section", "tsa_config", "-out", replyFile], this.dir);
    if (!existsSync(replyFile)) throw new Error(`openssl ts -reply wrote no reply: ${run.stderr}`);
    return readFileSync(replyFile);
  }

  /** The token inside a granted reply, as OpenSSL extracts it. */
  tokenOf(reply: Buffer): Buffer {
    this.count += 1;
    const replyFile = join(this.dir, `extract-${this.count}.tsr`);
    writeFileSync(replyFile, reply);
    mustRun(["ts", "-reply", "-in", replyFile, "-token_out", "-out", `${replyFile}.token`], this.dir);
    return readFileSync(`${replyFile}.token`);
  }

  /** A TimeStampReq made by `openssl ts -query` for `message` (SHA-256, a nonce, certReq). */
  query(message: Buffer): Buffer {
    this.count += 1;
    const dataFile = join(this.dir, `data-${this.count}`);
    writeFileSync(dataFile, message);
    mustRun(["ts", "-query", "-data", dataFile, "-sha256", "-cert", "-out", `${dataFile}.tsq`], this.dir);
    return readFileSync(`${dataFile}.tsq`);
  }

  /** A token for `message`, straight from OpenSSL. */
  stamp(message: Buffer): Buffer {
    return this.tokenOf(this.reply(this.query(message)));
  }
}

export function startTsa(signer: Issued, options: TsaOptions = {}): TestTsa {
  return new TestTsa(tempDir("aos-tsa"), signer, options);
}

/**
 * Whether `openssl ts -verify` accepts the token for `message`, trusting `trusted` (PEM files), with certificates
 * checked at `at` (the token's genTime: a token outlives its TSA certificate) and a trusted certificate allowed to
 * end the path wherever it is (-partial_chain), as our verifier allows.
 */
export function opensslAccepts(token: Buffer, message: Buffer, trusted: string[], at: Date): boolean {
  const dir = tempDir("aos-tsa-verify");
  writeFileSync(join(dir, "token.der"), token);
  writeFileSync(join(dir, "message"), message);
  writeFileSync(join(dir, "trusted.pem"), trusted.map((file) => readFileSync(file, "utf8")).join(""));
  const args = ["ts", "-verify", "-token_in", "-in", "token.der", "-data", "message", "-CAfile", "trusted.pem", "-partial_chain"];
  const run = openssl([...args, "-attime", String(Math.floor(at.getTime() / 1000))], dir);
  return run.status === 0 && run.stdout.includes("Verification: OK");
}

/**
 * Whether `openssl cms -verify` accepts the token's signature and its signer's path to `trusted` for the
 * timestamp-signing purpose. It does not look at the TSTInfo. It is the oracle for what `openssl ts -verify` cannot
 * read, since that parses tokens as PKCS #7 (RFC 2315), which has no RSA-PSS and no subjectKeyIdentifier signer.
 */
export function opensslCmsAccepts(token: Buffer, trusted: string[], at: Date): boolean {
  const dir = tempDir("aos-tsa-verify");
  writeFileSync(join(dir, "token.der"), token);
  writeFileSync(join(dir, "trusted.pem"), trusted.map((file) => readFileSync(file, "utf8")).join(""));
  const args = ["cms", "-verify", "-inform", "DER", "-in", "token.der", "-CAfile", "trusted.pem", "-purpose", "timestampsign", "-out", "content"];
  const run = openssl([...args, "-attime", String(Math.floor(at.getTime() / 1000))], dir);
  return run.status === 0 && run.stderr.includes("CMS Verification successful");
}

/** `openssl ts -reply -text` of a DER TimeStampResp. */
export function describeReply(reply: Buffer): string {
  const dir = tempDir("aos-tsa-reply");
  writeFileSync(join(dir, "reply.tsr"), reply);
  return mustRun(["ts", "-reply", "-in", "reply.tsr", "-text"], dir);
}

/** `openssl ts -query -text` of a DER TimeStampReq. */
export function describeQuery(query: Buffer): string {
  const dir = tempDir("aos-tsa-query");
  writeFileSync(join(dir, "query.tsq"), query);
  return mustRun(["ts", "-query", "-in", "query.tsq", "-text"], dir);
}

/** The TSTInfo inside a token, as `openssl cms` extracts it (signature checked, certificates not). */
export function tstInfoOf(token: Buffer): Buffer {
  const dir = tempDir("aos-tsa-cms");
  writeFileSync(join(dir, "token.der"), token);
  mustRun(["cms", "-verify", "-noverify", "-inform", "DER", "-in", "token.der", "-out", "tst-info.der"], dir);
  return readFileSync(join(dir, "tst-info.der"));
}

// The builder's own DER writer and reader: short, definite lengths only, just what a token needs.
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split(".").map(Number) as [number, number, ...number[]];
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const groups = [arc & 0x7f];
    for (let high = Math.floor(arc / 128); high > 0; high = Math.floor(high / 128)) groups.unshift((high & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
}

const small = (n: number) => der(0x02, Buffer.from([n]));
const NULL = Buffer.from([0x05, 0x00]);

/** The children of a constructed element's contents, each as its whole encoding. */
function children(contents: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < contents.length; ) {
    const first = contents[at + 1] as number;
    const [size, header] = first < 0x80 ? [first, 2] : [contents.readUIntBE(at + 2, first & 0x7f), 2 + (first & 0x7f)];
    out.push(contents.subarray(at, at + header + size));
    at += header + size;
  }
  return out;
}

function contentsOf(element: Buffer): Buffer {
  const first = element[1] as number;
  return element.subarray(first < 0x80 ? 2 : 2 + (first & 0x7f));
}

const HASH_OIDS = { sha256: "2.16.840.1.101.3.4.2.1", sha384: "2.16.840.1.101.3.4.2.2", sha512: "2.16.840.1.101.3.4.2.3" } as const;
const ECDSA_OIDS = { sha256: "1.2.840.10045.4.3.2", sha384: "1.2.840.10045.4.3.3", sha512: "1.2.840.10045.4.3.4" } as const;

export interface SignOptions {
  hash?: "sha256" | "sha384" | "sha512";
  /** RSA keys only: RSASSA-PSS (salt as long as the hash) instead of PKCS #1 v1.5. */
  pss?: boolean;
  sid?: "issuerAndSerialNumber" | "subjectKeyIdentifier";
  /** Which ESS attribute names the signer's certificate ("none": neither, which RFC 3161 §2.4.1 forbids). */
  signingCertificate?: "v2" | "v1" | "none";
  /** The certificate whose issuer and serial number the ESSCertID's issuerSerial names (none: no issuerSerial). */
  issuerSerialOf?: Issued;
  /** More certificates for the token (DER). */
  extraCertificates?: Buffer[];
}

/** A TimeStampToken over `tstInfo`, signed by `signer` as a TSA would (RFC 3161 §2.4.2, RFC 5652 §5). */
export function signTstInfo(tstInfo: Buffer, signer: Issued, options: SignOptions = {}): Buffer {
  const hash = options.hash ?? "sha256";
  const hashAlgorithm = der(0x30, oid(HASH_OIDS[hash]), NULL);
  // ESSCertID(v2) ::= SEQUENCE { [hashAlgorithm (v2, SHA-256 by default),] certHash, issuerSerial OPTIONAL }.
  const v1 = options.signingCertificate === "v1";
  const certHash = der(0x04, createHash(v1 ? "sha1" : "sha256").update(signer.der).digest());
  const issuerSerial = options.issuerSerialOf === undefined ? [] : [issuerSerialOf(options.issuerSerialOf)];
  const essType = v1 ? "1.2.840.113549.1.9.16.2.12" : "1.2.840.113549.1.9.16.2.47";
  const essCertId = der(0x30, oid(essType), der(0x31, der(0x30, der(0x30, der(0x30, certHash, ...issuerSerial)))));
  const attributes = [
    der(0x30, oid("1.2.840.113549.1.9.3"), der(0x31, oid("1.2.840.113549.1.9.16.1.4"))),
    der(0x30, oid("1.2.840.113549.1.9.4"), der(0x31, der(0x04, createHash(hash).update(tstInfo).digest()))),
    ...(options.signingCertificate === "none" ? [] : [essCertId]),
  ].sort(Buffer.compare);
  const signedSet = der(0x31, ...attributes);
  const key = signer.keyPem;
  const isEc = new X509Certificate(signer.pem).publicKey.asymmetricKeyType === "ec";
  const signature = isEc
    ? sign(hash, signedSet, { key, dsaEncoding: "der" })
    : sign(hash, signedSet, { key, padding: options.pss ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING, saltLength: hashLength(hash) });
  const signatureAlgorithm = isEc
    ? der(0x30, oid(ECDSA_OIDS[hash]))
    : options.pss
      ? der(0x30, oid("1.2.840.113549.1.1.10"), der(0x30, der(0xa0, hashAlgorithm), der(0xa1, der(0x30, oid("1.2.840.113549.1.1.8"), hashAlgorithm)), der(0xa2, small(hashLength(hash)))))
      : der(0x30, oid("1.2.840.113549.1.1.1"), NULL);
  const signerInfo = der(
    0x30,
    small(options.sid === "subjectKeyIdentifier" ? 3 : 1),
    signerIdentifier(signer, options.sid ?? "issuerAndSerialNumber"),
    hashAlgorithm,
    der(0xa0, contentsOf(signedSet)),
    signatureAlgorithm,
    der(0x04, signature),
  );
  const certificates = der(0xa0, signer.der, ...(options.extraCertificates ?? []));
  const encapsulated = der(0x30, oid("1.2.840.113549.1.9.16.1.4"), der(0xa0, der(0x04, tstInfo)));
  const signedData = der(0x30, small(3), der(0x31, hashAlgorithm), encapsulated, certificates, der(0x31, signerInfo));
  return der(0x30, oid("1.2.840.113549.1.7.2"), der(0xa0, signedData));
}

function hashLength(hash: "sha256" | "sha384" | "sha512"): number {
  return { sha256: 32, sha384: 48, sha512: 64 }[hash];
}

/** A v3 certificate's issuer Name and serialNumber INTEGER, as DER. */
function issuerAndSerial(certificate: Issued): { issuer: Buffer; serial: Buffer } {
  const tbs = children(contentsOf(certificate.der))[0] as Buffer;
  // version [0], serialNumber, signature, issuer, …: the certificate carries an explicit version (v3).
  const [, serial, , issuer] = children(contentsOf(tbs)) as [Buffer, Buffer, Buffer, Buffer];
  return { issuer, serial };
}

/** IssuerSerial ::= SEQUENCE { issuer GeneralNames (one directoryName [4]), serialNumber }. */
function issuerSerialOf(certificate: Issued): Buffer {
  const { issuer, serial } = issuerAndSerial(certificate);
  return der(0x30, der(0x30, der(0xa4, issuer)), serial);
}

function signerIdentifier(signer: Issued, kind: "issuerAndSerialNumber" | "subjectKeyIdentifier"): Buffer {
  const { issuer, serial } = issuerAndSerial(signer);
  if (kind === "issuerAndSerialNumber") return der(0x30, issuer, serial);
  const text = mustRun(["x509", "-in", signer.certFile, "-noout", "-ext", "subjectKeyIdentifier"], dirname(signer.certFile));
  const hex = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text)?.[1];
  if (hex !== undefined) return der(0x80, Buffer.from(hex.replace(/:/g, ""), "hex"));
  throw new Error(`${signer.name} has no subjectKeyIdentifier`);
}

export interface TsaServer {
  url: string;
  /** TCP connections accepted, so a test can show that a refused request never connected. */
  connections(): number;
  close(): Promise<void>;
}

/** A loopback HTTP server in front of a TSA; `answer` may replace OpenSSL's reply (a wrong type, a stall, junk). */
export async function startTsaServer(
  tsa: TestTsa,
  answer: (query: Buffer, res: ServerResponse, reply: () => Buffer) => void = (_query, res, reply) => sendReply(res, reply()),
): Promise<TsaServer> {
  let connections = 0;
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const query = Buffer.concat(chunks);
      answer(query, res, () => tsa.reply(query));
    });
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/tsa`,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendReply(res: ServerResponse, body: Buffer, type = "application/timestamp-reply"): void {
  res.writeHead(200, { "content-type": type, "content-length": String(body.length) });
  res.end(body);
}
