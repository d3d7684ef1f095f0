import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  CHAIN_HEAD_EXTENSION,
  formatCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  verifyCheckpoint,
  type Checkpoint,
  type VerifiedCheckpoint,
} from "./checkpoint.js";
import { inclusionProof, leafHashOf, merkleRoot, verifyInclusion } from "./merkle.js";
import { generateSigningKey, signingKeyFromSeed, signNote } from "./signed-note.js";

const RUN_ID = "0b9c6a52-6f3e-4c1e-9a51-2f4b8f0c3d11";
const ORIGIN = `aos.local/run/${RUN_ID}`;
const leaves = ["a", "b", "c", "d", "e"].map((data) => leafHashOf(Buffer.from(data)));
// Format v1's four-line body; format v2 adds the format line (tested below).
const CHECKPOINT: Checkpoint = {
  format: "aos-trace-v1",
  origin: ORIGIN,
  treeSize: leaves.length,
  merkleRoot: merkleRoot(leaves),
  chainHead: createHash("sha256").update("chain head").digest("hex"),
};
const BODY = formatCheckpoint(CHECKPOINT);

// Fixed seeds make the notes reproducible; the key names are installation key names, not run origins.
const current = signingKeyFromSeed("aos.local", Buffer.alloc(32, 1));
const rotatedOut = signingKeyFromSeed("aos.local", Buffer.alloc(32, 2));
const stranger = signingKeyFromSeed("elsewhere.example", Buffer.alloc(32, 3));

function refusal(result: VerifiedCheckpoint): { code: string; reason: string } {
  if (result.ok) throw new Error("expected the checkpoint to be refused");
  return { code: result.code, reason: result.reason };
}

function bodyWith(change: (lines: string[]) => string[]): string {
  return `${change(BODY.slice(0, -1).split("\n")).join("\n")}\n`;
}

describe("the checkpoint body", () => {
  test("is origin, decimal size, base64 root and the chain-head extension line", () => {
    expect(BODY).toBe(
      `${ORIGIN}\n5\n${CHECKPOINT.merkleRoot.toString("base64")}\n${CHAIN_HEAD_EXTENSION} ${CHECKPOINT.chainHead}\n`,
    );
    expect(BODY.split("\n")[3]).toMatch(/^aos-chain-head [0-9a-f]{64}$/);
  });

  test("round-trips through parseCheckpoint", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9./_-]{1,60}$/),
        fc.maxSafeNat(),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (origin, treeSize, root, head) => {
          const chainHead = Buffer.from(head).toString("hex");
          for (const format of ["aos-trace-v1", "aos-trace-v2"] as const) {
            const checkpoint = { format, origin, treeSize, merkleRoot: Buffer.from(root), chainHead };
            expect(parseCheckpoint(formatCheckpoint(checkpoint))).toEqual({ ok: true, checkpoint });
          }
        },
      ),
    );
  });

  test.each([
    ["a missing chain-head line", (l: string[]) => l.slice(0, 3), /has 3 lines; it needs origin, tree size, root hash/],
    ["a missing root line", (l: string[]) => [l[0]!, l[1]!, l[3]!], /has 3 lines/],
    ["an extra extension line", (l: string[]) => [...l, "another extension"], /line 4 is not "aos-format aos-trace-v2"/],
    ["a blank extra line", (l: string[]) => [...l, ""], /line 4 is not "aos-format aos-trace-v2"/],
    ["two extra lines", (l: string[]) => [...l, "a", "b"], /has 6 lines/],
    ["an empty origin", (l: string[]) => ["", ...l.slice(1)], /origin line is empty/],
    ["a leading zero", (l: string[]) => [l[0]!, "05", ...l.slice(2)], /"05" is not a decimal without leading zeros/],
    ["a plus sign", (l: string[]) => [l[0]!, "+5", ...l.slice(2)], /not a decimal/],
    ["a decimal point", (l: string[]) => [l[0]!, "5.0", ...l.slice(2)], /not a decimal/],
    ["a negative size", (l: string[]) => [l[0]!, "-5", ...l.slice(2)], /not a decimal/],
    ["an empty size", (l: string[]) => [l[0]!, "", ...l.slice(2)], /not a decimal/],
    ["an unsafe integer", (l: string[]) => [l[0]!, "9007199254740993", ...l.slice(2)], /too large/],
    ["base64url", (l: string[]) => [l[0]!, l[1]!, "_".repeat(43) + "=", l[3]!], /not canonical standard base64/],
    ["unpadded base64", (l: string[]) => [l[0]!, l[1]!, l[2]!.replace("=", ""), l[3]!], /not canonical/],
    ["a 31-byte root", (l: string[]) => [l[0]!, l[1]!, Buffer.alloc(31).toString("base64"), l[3]!], /31 bytes, not 32/],
    ["a 33-byte root", (l: string[]) => [l[0]!, l[1]!, Buffer.alloc(33).toString("base64"), l[3]!], /33 bytes, not 32/],
    ["another extension keyword", (l: string[]) => [...l.slice(0, 3), l[3]!.replace("-head", "")], /line 4/],
    ["upper-case hex", (l: string[]) => [...l.slice(0, 3), `aos-chain-head ${"AB".repeat(32)}`], /line 4/],
    ["a trailing space", (l: string[]) => [...l.slice(0, 3), `${l[3]!} `], /line 4/],
    ["a short chain head", (l: string[]) => [...l.slice(0, 3), l[3]!.slice(0, -2)], /line 4/],
  ])("rejects %s", (_, change, reason) => {
    const parsed = parseCheckpoint(bodyWith(change));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });

  test("rejects a body without its final newline", () => {
    const reason = "the checkpoint does not end in a newline";
    expect(parseCheckpoint(BODY.slice(0, -1))).toEqual({ ok: false, reason });
  });

  test("a plain C2SP checkpoint, without the chain head, is refused as missing a line", () => {
    // The example body from the C2SP tlog-checkpoint specification (C2SP/C2SP tlog-checkpoint.md).
    const plain = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    const parsed = parseCheckpoint(plain);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(/aos-chain-head line/);
  });

  test("format v2 adds the format line before the chain head, and the line count tells the formats apart", () => {
    const v2 = formatCheckpoint({ ...CHECKPOINT, format: "aos-trace-v2" });
    expect(v2).toBe(`${ORIGIN}\n5\n${CHECKPOINT.merkleRoot.toString("base64")}\naos-format aos-trace-v2\naos-chain-head ${CHECKPOINT.chainHead}\n`);
    expect(parseCheckpoint(v2)).toMatchObject({ ok: true, checkpoint: { format: "aos-trace-v2" } });
    const otherFormat = v2.replace("aos-format aos-trace-v2", "aos-format aos-trace-v3");
    expect(parseCheckpoint(otherFormat)).toEqual({ ok: false, reason: 'line 4 is not "aos-format aos-trace-v2"' });
    expect(parseCheckpoint(v2.replace("aos-format aos-trace-v2\n", ""))).toMatchObject({ ok: true, checkpoint: { format: "aos-trace-v1" } });
  });

  test("formatCheckpoint refuses values with no valid spelling", () => {
    expect(() => formatCheckpoint({ ...CHECKPOINT, origin: "has space" })).toThrow(TypeError);
    expect(() => formatCheckpoint({ ...CHECKPOINT, origin: "" })).toThrow(TypeError);
    expect(() => formatCheckpoint({ ...CHECKPOINT, treeSize: -1 })).toThrow(TypeError);
    expect(() => formatCheckpoint({ ...CHECKPOINT, treeSize: 1.5 })).toThrow(TypeError);
    expect(() => formatCheckpoint({ ...CHECKPOINT, merkleRoot: Buffer.alloc(20) })).toThrow(TypeError);
    expect(() => formatCheckpoint({ ...CHECKPOINT, chainHead: "AB".repeat(32) })).toThrow(TypeError);
  });
});

describe("signed checkpoints", () => {
  const note = signCheckpoint(BODY, current.signer);

  test("sign and verify round-trip, and the note's text is the body", () => {
    expect(note.startsWith(`${BODY}\n— aos.local `)).toBe(true);
    expect(verifyCheckpoint(note, [current.verifier], { origin: ORIGIN })).toEqual({
      ok: true,
      checkpoint: CHECKPOINT,
      verifiedBy: ["aos.local"],
    });
  });

  test("the checkpoint's root proves a single step's inclusion", () => {
    const verified = verifyCheckpoint(note, [current.verifier]);
    if (!verified.ok) throw new Error(verified.reason);
    const { treeSize, merkleRoot: root } = verified.checkpoint;
    expect(verifyInclusion(leaves[3]!, 3, treeSize, inclusionProof(leaves, 3), root)).toBe(true);
  });

  test("an old key still verifies after rotation; any one trusted key is enough", () => {
    const oldNote = signCheckpoint(BODY, rotatedOut.signer);
    expect(verifyCheckpoint(oldNote, [current.verifier, rotatedOut.verifier]).ok).toBe(true);
  });

  test("an unknown key is refused", () => {
    const { name, keyId } = stranger.verifier;
    expect(refusal(verifyCheckpoint(signCheckpoint(BODY, stranger.signer), [current.verifier]))).toEqual({
      code: "UNKNOWN_KEY",
      reason: `no signature is by a known key: ${name}+${keyId} (no known key has that name)`,
    });
  });

  test("a key with the right name but another key id is refused as unknown, naming the known id", () => {
    const refused = refusal(verifyCheckpoint(signCheckpoint(BODY, rotatedOut.signer), [current.verifier]));
    expect(refused.code).toBe("UNKNOWN_KEY");
    expect(refused.reason).toContain(`(the known aos.local key id is ${current.verifier.keyId})`);
  });

  test("a wrong signature is refused: the body changed after signing", () => {
    const tampered = note.replace(`\n${CHECKPOINT.treeSize}\n`, `\n${CHECKPOINT.treeSize - 1}\n`);
    expect(refusal(verifyCheckpoint(tampered, [current.verifier]))).toEqual({
      code: "INVALID_SIGNATURE",
      reason: `the signature by aos.local+${current.verifier.keyId} does not verify`,
    });
  });

  test("a wrong signature is refused: another key's signature bytes under this key's id", () => {
    const forged = signCheckpoint(BODY, generateSigningKey("aos.local").signer);
    const [, forgedSignature] = /— aos\.local (\S+)\n$/.exec(forged)!;
    const ownId = Buffer.from(current.verifier.keyId, "hex");
    const swapped = Buffer.concat([ownId, Buffer.from(forgedSignature!, "base64").subarray(4)]).toString("base64");
    const refused = refusal(verifyCheckpoint(`${BODY}\n— aos.local ${swapped}\n`, [current.verifier]));
    expect(refused.code).toBe("INVALID_SIGNATURE");
  });

  test("extra or missing lines are refused: added later they break the signature, signed they break the format", () => {
    const lineAdded = note.replace(BODY, `${BODY}one more line\n`);
    expect(refusal(verifyCheckpoint(lineAdded, [current.verifier])).code).toBe("INVALID_SIGNATURE");
    const lineDropped = note.replace(BODY, bodyWith((l) => l.slice(0, 3)));
    expect(refusal(verifyCheckpoint(lineDropped, [current.verifier])).code).toBe("INVALID_SIGNATURE");
    const threeLines = signNote(bodyWith((l) => l.slice(0, 3)), current.signer);
    expect(refusal(verifyCheckpoint(threeLines, [current.verifier]))).toEqual({
      code: "MALFORMED_CHECKPOINT",
      reason:
        "the checkpoint has 3 lines; it needs origin, tree size, root hash, aos-format aos-trace-v2 (format v2) and the aos-chain-head line",
    });
    const fiveLines = signNote(bodyWith((l) => [...l, "aos-other 1"]), current.signer);
    expect(refusal(verifyCheckpoint(fiveLines, [current.verifier])).code).toBe("MALFORMED_CHECKPOINT");
  });

  test("a checkpoint for another run is refused when the origin is given", () => {
    expect(refusal(verifyCheckpoint(note, [current.verifier], { origin: "aos.local/run/other" }))).toEqual({
      code: "ORIGIN_MISMATCH",
      reason: `the checkpoint's origin is "${ORIGIN}", not "aos.local/run/other"`,
    });
  });

  test("a malformed note is refused before anything else", () => {
    expect(refusal(verifyCheckpoint(BODY, [current.verifier])).code).toBe("MALFORMED_NOTE");
  });

  test("signCheckpoint refuses a body that is not a checkpoint", () => {
    expect(() => signCheckpoint(bodyWith((l) => [...l, "extra"]), current.signer)).toThrow(/malformed checkpoint/);
  });
});
