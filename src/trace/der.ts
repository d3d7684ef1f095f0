/**
 * A strict reader and a small writer of ASN.1 DER (ITU-T X.690 §10, with §8 for what §10 leaves as BER), for the
 * RFC 3161 timestamp structures and the parts of X.509 certificates node:crypto does not expose. Strict means each
 * value has one accepted encoding: single-octet tags only (§8.1.2.3, no structure read here needs tag numbers above
 * 30), definite lengths in the fewest octets (§10.1), and no bytes left over after an element, a SEQUENCE's members
 * or the whole input. Anything else is a DerProblem naming what was being read, which the callers turn into
 * `{ ok: false, reason }`.
 *
 * An element is read on demand, field by field, by the structure that expects it: there is no generic tree, so no
 * recursion an input could make deep.
 */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** `[n]` with IMPLICIT tagging of a primitive type (X.690 §8.1.2: class context-specific, primitive). */
export function contextPrimitive(n: number): number {
  return 0x80 | n;
}

/** `[n]` EXPLICIT, or IMPLICIT of a constructed type (class context-specific, constructed). */
export function contextConstructed(n: number): number {
  return 0xa0 | n;
}

/** What was wrong with the input, in the words of the structure being read. */
export class DerProblem extends Error {
  override readonly name = "DerProblem";
}

export interface DerElement {
  /** The identifier octet. */
  tag: number;
  /** The whole element, identifier and length octets included. */
  bytes: Buffer;
  /** The contents octets. */
  value: Buffer;
}

/** Reads `input` as exactly one element with the given tag: nothing may follow it. */
export function readWhole(input: Buffer, tag: number, what: string): DerElement {
  const reader = new DerReader(input, what);
  const element = reader.next(tag, what);
  reader.end();
  return element;
}

/** The members of a constructed element, read in order. */
export class DerReader {
  private offset = 0;

  constructor(
    private readonly input: Buffer,
    private readonly what: string,
  ) {}

  static of(element: DerElement, what: string): DerReader {
    if ((element.tag & 0x20) === 0) throw new DerProblem(`${what} is not a constructed element`);
    return new DerReader(element.value, what);
  }

  atEnd(): boolean {
    return this.offset === this.input.length;
  }

  /** The next element's tag, or undefined at the end. */
  peekTag(): number | undefined {
    return this.atEnd() ? undefined : this.input[this.offset];
  }

  /** The next element, which must have `tag`. */
  next(tag: number, what: string): DerElement {
    const found = this.peekTag();
    if (found === undefined) throw new DerProblem(`${this.what} ends before ${what}`);
    if (found !== tag) throw new DerProblem(`${what} has tag ${hexByte(found)}, not ${hexByte(tag)}`);
    return this.any(what);
  }

  /** The next element if it has `tag` (an OPTIONAL or DEFAULT member), else undefined. */
  optional(tag: number, what: string): DerElement | undefined {
    return this.peekTag() === tag ? this.any(what) : undefined;
  }

  /** The next element, whatever its tag. */
  any(what: string): DerElement {
    const start = this.offset;
    const tag = this.input[start];
    if (tag === undefined) throw new DerProblem(`${this.what} ends before ${what}`);
    if ((tag & 0x1f) === 0x1f) throw new DerProblem(`${what} uses a multi-octet tag, which none of these structures has`);
    const { length, headerSize } = readLength(this.input, start + 1, what);
    const end = start + 1 + headerSize + length;
    if (end > this.input.length) throw new DerProblem(`${what} is longer (${length} bytes) than what holds it`);
    this.offset = end;
    return { tag, bytes: this.input.subarray(start, end), value: this.input.subarray(start + 1 + headerSize, end) };
  }

  /** Every remaining element, each with the given tag (a SET OF or SEQUENCE OF). */
  all(tag: number, what: string): DerElement[] {
    const elements: DerElement[] = [];
    while (!this.atEnd()) elements.push(this.next(tag, `${what} ${elements.length + 1}`));
    return elements;
  }

  /** Every remaining element, whatever its tags (a SET OF ANY, a SEQUENCE OF a CHOICE). */
  rest(what: string): DerElement[] {
    const elements: DerElement[] = [];
    while (!this.atEnd()) elements.push(this.any(`${what} ${elements.length + 1}`));
    return elements;
  }

  /** Nothing may be left: a member this reader does not know is a malformed input, not an extension. */
  end(): void {
    if (!this.atEnd()) {
      const tag = hexByte(this.input[this.offset] ?? 0);
      throw new DerProblem(`${this.what} has an unexpected element (tag ${tag}) after its last member`);
    }
  }
}

/** X.690 §8.1.3, §10.1: definite form only, long form only from 128 on, no leading zero octets. */
function readLength(input: Buffer, at: number, what: string): { length: number; headerSize: number } {
  const first = input[at];
  if (first === undefined) throw new DerProblem(`${what} has no length`);
  if (first < 0x80) return { length: first, headerSize: 1 };
  if (first === 0x80) throw new DerProblem(`${what} has an indefinite length, which DER does not allow`);
  const count = first & 0x7f;
  if (count > 4) throw new DerProblem(`${what} has a ${count}-octet length`);
  if (at + 1 + count > input.length) throw new DerProblem(`${what}'s length is cut off`);
  let length = 0;
  for (let i = 1; i <= count; i += 1) length = length * 256 + (input[at + i] as number);
  if (input[at + 1] === 0 || length < 0x80) throw new DerProblem(`${what}'s length is not in its shortest form`);
  return { length, headerSize: 1 + count };
}

/** X.690 §8.3: two's complement in the fewest octets. */
export function readInteger(element: DerElement, what: string): bigint {
  const bytes = integerContents(element, what);
  const unsigned = BigInt(`0x${bytes.toString("hex")}`);
  return (bytes[0] as number) & 0x80 ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
}

/** An INTEGER that must be a small non-negative number (a version, a count). */
export function readSmallInteger(element: DerElement, what: string): number {
  const value = readInteger(element, what);
  if (value < 0n || value > 0xffffn) throw new DerProblem(`${what} is ${value}, out of range`);
  return Number(value);
}

/** The contents octets of a minimally encoded INTEGER, for comparing serial numbers byte for byte. */
export function integerContents(element: DerElement, what: string): Buffer {
  const bytes = element.value;
  if (bytes.length === 0) throw new DerProblem(`${what} is an empty INTEGER`);
  const [first, second] = [bytes[0] as number, bytes[1]];
  if (second !== undefined && ((first === 0x00 && second < 0x80) || (first === 0xff && second >= 0x80))) {
    throw new DerProblem(`${what} is not an INTEGER in its fewest octets`);
  }
  return bytes;
}

/** X.690 §8.19: dotted decimal; every subidentifier in its fewest octets. */
export function readOid(element: DerElement, what: string): string {
  const bytes = element.value;
  if (bytes.length === 0) throw new DerProblem(`${what} is an empty OBJECT IDENTIFIER`);
  const parts: bigint[] = [];
  let current = 0n;
  let starting = true;
  for (const byte of bytes) {
    if (starting && byte === 0x80) throw new DerProblem(`${what} has a subidentifier with a leading zero octet`);
    current = (current << 7n) | BigInt(byte & 0x7f);
    starting = (byte & 0x80) === 0;
    if (starting) {
      parts.push(current);
      current = 0n;
    }
  }
  if (!starting) throw new DerProblem(`${what} ends inside a subidentifier`);
  const head = parts[0] as bigint;
  const [arc1, arc2] = head < 40n ? [0n, head] : head < 80n ? [1n, head - 40n] : [2n, head - 80n];
  return [arc1, arc2, ...parts.slice(1)].join(".");
}

/** X.690 §11.1 (DER): TRUE is 0xFF, FALSE 0x00. */
export function readBoolean(element: DerElement, what: string): boolean {
  const [byte] = element.value;
  if (element.value.length !== 1 || (byte !== 0x00 && byte !== 0xff)) throw new DerProblem(`${what} is not a DER BOOLEAN`);
  return byte === 0xff;
}

export function readNull(element: DerElement, what: string): void {
  if (element.tag !== TAG.NULL || element.value.length !== 0) throw new DerProblem(`${what} is not NULL`);
}

/** X.690 §8.6, §11.2: the unused bits (at most 7, none in an empty string) must be zero. */
export function readBitString(element: DerElement, what: string): { bytes: Buffer; unusedBits: number } {
  const unusedBits = element.value[0];
  const bytes = element.value.subarray(1);
  if (unusedBits === undefined || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
    throw new DerProblem(`${what} is not a well-formed BIT STRING`);
  }
  const last = bytes[bytes.length - 1] ?? 0;
  if ((last & ((1 << unusedBits) - 1)) !== 0) throw new DerProblem(`${what} has unused bits that are not zero`);
  return { bytes, unusedBits };
}

/** Whether bit `n` (0 is the first, most significant bit) of a BIT STRING is set. */
export function bitIsSet(bits: { bytes: Buffer }, n: number): boolean {
  const byte = bits.bytes[n >> 3] ?? 0;
  return (byte & (0x80 >> (n & 7))) !== 0;
}

const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/;
const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/**
 * X.690 §11.7 (DER GeneralizedTime): seconds present, a fraction without trailing zeros, "Z". The Date keeps
 * milliseconds; finer digits are dropped (truncated, never rounded up past the instant written).
 */
export function readGeneralizedTime(element: DerElement, what: string): Date {
  const match = GENERALIZED_TIME.exec(element.value.toString("latin1"));
  if (match === null) throw new DerProblem(`${what} is not a DER GeneralizedTime (YYYYMMDDhhmmss[.f]Z)`);
  const [, year, month, day, hour, minute, second, fraction] = match as unknown as string[];
  const millis = Number((fraction ?? "").slice(0, 3).padEnd(3, "0"));
  return utcDate([Number(year), Number(month), Number(day), Number(hour), Number(minute), Number(second), millis], what);
}

/** X.690 §11.8 with RFC 5280 §4.1.2.5.1: YYMMDDhhmmssZ, years 50–99 being 19xx. */
export function readUtcTime(element: DerElement, what: string): Date {
  const match = UTC_TIME.exec(element.value.toString("latin1"));
  if (match === null) throw new DerProblem(`${what} is not a DER UTCTime (YYMMDDhhmmssZ)`);
  const [, yy, month, day, hour, minute, second] = match as unknown as string[];
  const year = Number(yy) < 50 ? 2000 + Number(yy) : 1900 + Number(yy);
  return utcDate([year, Number(month), Number(day), Number(hour), Number(minute), Number(second), 0], what);
}

function utcDate(fields: number[], what: string): Date {
  const [year, month, day, hour, minute, second, millis] = fields as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  // Date.UTC rolls 31 February over into March; a time that does not round-trip names no real instant.
  const exact =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  if (!exact) throw new DerProblem(`${what} names no real instant`);
  return date;
}

/** The writer: an element from its tag and its contents, which are concatenated. */
export function encode(tag: number, ...contents: Buffer[]): Buffer {
  const value = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

/** A non-negative INTEGER in its fewest octets. */
export function encodeInteger(value: bigint): Buffer {
  if (value < 0n) throw new TypeError(`${value} is negative; only non-negative INTEGERs are written here`);
  const hex = value.toString(16);
  const bytes = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex");
  return encode(TAG.INTEGER, (bytes[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

export function encodeOid(oid: string): Buffer {
  const arcs = oid.split(".").map((arc) => BigInt(arc));
  const [arc1, arc2, ...rest] = arcs as [bigint, bigint, ...bigint[]];
  const octets = [arc1 * 40n + arc2, ...rest].flatMap((arc) => {
    const groups = [Number(arc & 0x7fn)];
    for (let high = arc >> 7n; high > 0n; high >>= 7n) groups.unshift(Number(high & 0x7fn) | 0x80);
    return groups;
  });
  return encode(TAG.OID, Buffer.from(octets));
}

export function encodeBoolean(value: boolean): Buffer {
  return encode(TAG.BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
}

function hexByte(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}
