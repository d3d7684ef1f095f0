import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  DerProblem,
  DerReader,
  encodeInteger,
  encodeOid,
  readBitString,
  readBoolean,
  readGeneralizedTime,
  readInteger,
  readOid,
  readUtcTime,
  readWhole,
  TAG,
} from "./der.js";

const hex = (text: string) => Buffer.from(text.replace(/\s/g, ""), "hex");

function problem(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    if (error instanceof DerProblem) return error.message;
    throw error;
  }
  throw new Error("expected a DerProblem");
}

describe("the DER reader refuses every encoding DER does not allow", () => {
  test.each([
    ["an indefinite length", "3080 0500 0000", /indefinite length/],
    ["a long-form length under 128", "3081 02 0500", /not in its shortest form/],
    ["a length with a leading zero octet", "3082 0002 0500", /not in its shortest form/],
    ["a length past the input", "3003 0500", /longer \(3 bytes\) than what holds it/],
    ["bytes after the element", "3002 0500 00", /unexpected element/],
    ["another tag than expected", "3102 0500", /has tag 0x31, not 0x30/],
    ["a five-octet length", "3085 0000000002 0500", /5-octet length/],
  ])("%s", (_name, input, reason) => {
    expect(problem(() => readWhole(hex(input), TAG.SEQUENCE, "the input"))).toMatch(reason);
  });

  test.each([
    ["a multi-octet tag", () => new DerReader(hex("1f8101 00"), "the input").any("an element"), /multi-octet tag/],
    ["INTEGER 0x00 0x7f", () => readInteger(readWhole(hex("0202 007f"), TAG.INTEGER, "n"), "n"), /fewest octets/],
    ["INTEGER 0xff 0x80", () => readInteger(readWhole(hex("0202 ff80"), TAG.INTEGER, "n"), "n"), /fewest octets/],
    ["an empty INTEGER", () => readInteger(readWhole(hex("0200"), TAG.INTEGER, "n"), "n"), /empty INTEGER/],
    ["an OID subidentifier with a leading 0x80", () => readOid(readWhole(hex("0603 2a8001"), TAG.OID, "o"), "o"), /leading zero octet/],
    ["an OID cut inside a subidentifier", () => readOid(readWhole(hex("0602 2a86"), TAG.OID, "o"), "o"), /ends inside a subidentifier/],
    ["BOOLEAN 0x01", () => readBoolean(readWhole(hex("010101"), TAG.BOOLEAN, "b"), "b"), /not a DER BOOLEAN/],
    ["a BIT STRING with set unused bits", () => readBitString(readWhole(hex("0302 0181"), TAG.BIT_STRING, "s"), "s"), /unused bits that are not zero/],
  ])("%s", (_name, read, reason) => {
    expect(problem(read)).toMatch(reason);
  });

  test.each([
    "20260230120000Z", // 30 February
    "20261206060540.250Z", // a trailing zero in the fraction
    "20261206060540.Z",
    "20261206060540", // no Z
    "202612060605Z", // no seconds
    "20261206060540+0100",
    "20261206246040Z",
  ])("GeneralizedTime %s", (text) => {
    const element = { tag: TAG.GENERALIZED_TIME, bytes: Buffer.alloc(0), value: Buffer.from(text, "latin1") };
    expect(problem(() => readGeneralizedTime(element, "t"))).toMatch(/t (is not a DER GeneralizedTime|names no real instant)/);
  });
});

describe("the DER reader reads", () => {
  test("GeneralizedTime to the millisecond, finer digits truncated", () => {
    const at = (text: string) => readGeneralizedTime({ tag: TAG.GENERALIZED_TIME, bytes: Buffer.alloc(0), value: Buffer.from(text, "latin1") }, "t");
    expect(at("20261206060540Z").toISOString()).toBe("2026-12-06T06:05:40.000Z");
    expect(at("20261206060540.2599Z").toISOString()).toBe("2026-12-06T06:05:40.259Z");
  });

  test("UTCTime with RFC 5280's century: 49 is 2049, 50 is 1950", () => {
    const at = (text: string) => readUtcTime({ tag: TAG.UTC_TIME, bytes: Buffer.alloc(0), value: Buffer.from(text, "latin1") }, "t");
    expect(at("491231235959Z").toISOString()).toBe("2049-12-31T23:59:59.000Z");
    expect(at("500101000000Z").toISOString()).toBe("1950-01-01T00:00:00.000Z");
  });

  test("what the writer writes: non-negative INTEGERs and OIDs, round trip", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 200n) - 1n }), (n) => {
        expect(readInteger(readWhole(encodeInteger(n), TAG.INTEGER, "n"), "n")).toBe(n);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.nat()), (first, second, rest) => {
        const oid = [first, second, ...rest].join(".");
        expect(readOid(readWhole(encodeOid(oid), TAG.OID, "o"), "o")).toBe(oid);
      }),
    );
    expect(encodeOid("1.2.840.113549.1.9.16.1.4").toString("hex")).toBe("060b2a864886f70d0109100104");
    expect(encodeInteger(0x80n).toString("hex")).toBe("02020080");
  });
});
