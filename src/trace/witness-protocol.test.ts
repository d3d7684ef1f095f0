import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { signingKeyFromSeed, signNote } from "./signed-note.js";
import {
  formatAddCheckpoint,
  formatSizeConflict,
  parseAddCheckpoint,
  parseCheckpointBody,
  parseCosignatureResponse,
  parseSizeConflict,
} from "./witness-protocol.js";

// c2sp.org/tlog-witness's example request body, byte for byte.
const SPEC_EXAMPLE =
  "old 20852014\n" +
  "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n" +
  "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n" +
  "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n" +
  "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n" +
  "\n" +
  "example.com/behind-the-sofa\n" +
  "20852163\n" +
  "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n" +
  "\n" +
  "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n" +
  "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

const log = signingKeyFromSeed("log.example", Buffer.alloc(32, 7));
const ROOT = Buffer.alloc(32, 9).toString("base64");
const HASH = Buffer.alloc(32, 1).toString("base64");
const note = (size: number | string, origin = "log.example/tenant/acme") => signNote(`${origin}\n${size}\n${ROOT}\n`, log.signer);

function reasonOf(body: string | Uint8Array): string {
  const parsed = parseAddCheckpoint(body);
  if (parsed.ok) throw new Error("expected the body to be refused");
  return parsed.reason;
}

describe("the add-checkpoint request body", () => {
  test("parses the spec's example and writes it back byte for byte", () => {
    const parsed = parseAddCheckpoint(Buffer.from(SPEC_EXAMPLE, "utf8"));
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.request.oldSize).toBe(20852014);
    expect(parsed.request.consistencyProof.map((hash) => hash.toString("base64"))).toEqual(SPEC_EXAMPLE.split("\n").slice(1, 5));
    expect(parsed.checkpoint).toEqual({
      origin: "example.com/behind-the-sofa",
      treeSize: 20852163,
      rootHash: Buffer.from("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", "base64"),
    });
    expect(parsed.text).toBe("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    expect(formatAddCheckpoint(parsed.request)).toBe(SPEC_EXAMPLE);
  });

  test("round-trips any old size, proof and note", () => {
    fc.assert(
      fc.property(fc.nat({ max: 1000 }), fc.nat({ max: 1000 }), fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 63 }), (old, grow, hashes) => {
        const request = { oldSize: old, consistencyProof: old === 0 ? [] : hashes.map((hash) => Buffer.from(hash)), note: note(old + grow) };
        const parsed = parseAddCheckpoint(formatAddCheckpoint(request));
        expect(parsed.ok && parsed.request).toEqual(request);
      }),
    );
  });

  test("refuses each malformation with the reason", () => {
    const good = (old: string, proof: string[], body = note(10)) => `old ${old}\n${proof.map((line) => `${line}\n`).join("")}\n${body}`;
    const cases: [string | Uint8Array, RegExp][] = [
      [good("01", []), /not "old <size>"/],
      [good("-1", []), /not "old <size>"/],
      [good(" 1", []), /not "old <size>"/],
      [`old 1\r\n${HASH}\n\n${note(10)}`, /not "old <size>"/],
      [good("99999999999999999999", [HASH]), /too large/],
      [good("1", Array.from({ length: 64 }, () => HASH)), /64 lines; at most 63/],
      [good("1", [HASH.replace(/=$/, "")]), /line 1 is not a 32-byte hash/],
      [good("1", [Buffer.alloc(31).toString("base64")]), /line 1 is not a 32-byte hash/],
      [good("1", [Buffer.alloc(32, 0xfb).toString("base64url")]), /line 1 is not a 32-byte hash/],
      [good("0", [HASH]), /must be empty when the old size is 0/],
      [good("11", [HASH]), /old size 11 is larger than the checkpoint's size 10/],
      [good("1", [HASH], `log.example/tenant/acme\n10\n${ROOT}\n`), /note is malformed/],
      [good("1", [HASH], signNote(`log.example/tenant/acme\n10\n${ROOT}\next\n`, log.signer)), /4 lines; it needs exactly/],
      [good("1", [HASH], note("010")), /not a decimal without leading zeros/],
      [`old 1\n${HASH}\n${note(10)}`, /consistency proof line 2/],
      ["old 1", /no empty line/],
      [Buffer.concat([Buffer.from("old 0\n\n"), Buffer.from([0xff]), Buffer.from(note(10))]), /not valid UTF-8/],
    ];
    for (const [body, reason] of cases) expect(reasonOf(body)).toMatch(reason);
  });

  test("refuses to write a request the spec forbids", () => {
    expect(() => formatAddCheckpoint({ oldSize: -1, consistencyProof: [], note: note(1) })).toThrow(/tree size/);
    expect(() => formatAddCheckpoint({ oldSize: 1, consistencyProof: [Buffer.alloc(31)], note: note(1) })).toThrow(/31 bytes/);
    const long = Array.from({ length: 64 }, () => Buffer.alloc(32));
    expect(() => formatAddCheckpoint({ oldSize: 1, consistencyProof: long, note: note(1) })).toThrow(/at most 63/);
  });
});

describe("the checkpoint body", () => {
  test("is exactly origin, size and a 32-byte root", () => {
    expect(parseCheckpointBody(`o\n0\n${ROOT}\n`)).toEqual({ ok: true, checkpoint: { origin: "o", treeSize: 0, rootHash: Buffer.from(ROOT, "base64") } });
    for (const [text, reason] of [
      [`o\n1\n${ROOT}`, /newline/],
      [`\n1\n${ROOT}\n`, /origin line is empty/],
      [`o\n1\n${Buffer.alloc(33).toString("base64")}\n`, /32-byte hash/],
      [`o\n9007199254740993\n${ROOT}\n`, /too large/],
      [`o\n1\n`, /2 lines/],
    ] as const) {
      expect(parseCheckpointBody(text)).toEqual({ ok: false, reason: expect.stringMatching(reason) });
    }
  });
});

describe("the responses", () => {
  test("200: one or more signature lines, each ending in a newline", () => {
    const lines = ["\u2014 w1 AAAAAAAA\n", "\u2014 w2 AQIDBAU=\n"];
    expect(parseCosignatureResponse(lines.join(""))).toEqual({ ok: true, lines });
    for (const body of ["", "\u2014 w1 AAAAAAAA", "not a line\n", "\u2014 w1 AAAAAAAA\n\n"]) {
      expect(parseCosignatureResponse(body).ok).toBe(false);
    }
  });

  test("409: the size, in decimal, and a newline", () => {
    expect(formatSizeConflict(20)).toBe("20\n");
    expect(parseSizeConflict("20\n")).toEqual({ ok: true, treeSize: 20 });
    expect(parseSizeConflict(Buffer.from("0\n"))).toEqual({ ok: true, treeSize: 0 });
    for (const body of ["20", "020\n", "-1\n", "x\n", "", "1 \n"]) expect(parseSizeConflict(body).ok).toBe(false);
  });
});
