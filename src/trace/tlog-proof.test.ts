import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { canonicalBytes } from "./canonical-json.js";
import { formatCheckpoint, signCheckpoint } from "./checkpoint.js";
import { inclusionProof, merkleRoot } from "./merkle.js";
import { generateSigningKey, signingKeyFromSeed, type SigningKeyPair } from "./signed-note.js";
import { leafHash, type StepContent } from "./v1/step-hash.js";
import {
  formatTlogProof,
  parseTlogProof,
  TLOG_PROOF_HEADER,
  verifyTlogProof,
  type TlogProof,
  type VerifiedTlogProof,
} from "./tlog-proof.js";

const ORIGIN = "aos.local/run/0b9c6a52-6f3e-4c1e-9a51-2f4b8f0c3d11";
const CHAIN_HEAD = createHash("sha256").update("chain head").digest("hex");
const key = signingKeyFromSeed("aos.local", Buffer.alloc(32, 1));
const MAX_STEPS = 40;

function stepContent(seq: number): StepContent {
  return {
    seq,
    step_index: seq,
    step_id: `fetch-${seq}`,
    attempt: 1,
    skill: "http.get",
    skill_version: "1.0.0",
    params: { url: `https://example.com/items/${seq}`, headers: { accept: "application/json" } },
    status: seq % 7 === 3 ? "failed" : "succeeded",
    outcome_code: seq % 7 === 3 ? "HTTP_ERROR" : "OK",
    outcome_data: { items: [seq, seq * 2], note: "ünïcödé ✓" },
    error: null,
    cost_cents: seq,
    tokens: 10 * seq,
    duration_ms: 100 + seq,
    started_at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
    completed_at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq + 1)).toISOString(),
    decision: null,
  };
}

const CONTENTS = Array.from({ length: MAX_STEPS }, (_, seq) => stepContent(seq));
const LEAVES = CONTENTS.map((content) => Buffer.from(leafHash(content), "hex"));

function signedCheckpointOf(treeSize: number, signer: SigningKeyPair = key): string {
  const leaves = LEAVES.slice(0, treeSize);
  const body = formatCheckpoint({ format: "aos-trace-v2", origin: ORIGIN, treeSize, merkleRoot: merkleRoot(leaves), chainHead: CHAIN_HEAD });
  return signCheckpoint(body, signer.signer);
}

function proofOf(treeSize: number, index: number, checkpointNote = signedCheckpointOf(treeSize)): TlogProof {
  return {
    extra: canonicalBytes(CONTENTS[index]),
    index,
    auditPath: inclusionProof(LEAVES.slice(0, treeSize), index),
    checkpointNote,
  };
}

function refusal(result: VerifiedTlogProof): { code: string; reason: string } {
  if (result.ok) throw new Error("expected the proof to be refused");
  return { code: result.code, reason: result.reason };
}

function flipLastBit(hash: Buffer): Buffer {
  const flipped = Buffer.from(hash);
  flipped.writeUInt8(flipped.readUInt8(31) ^ 0x01, 31);
  return flipped;
}

function parseRefusal(text: string): string {
  const parsed = parseTlogProof(text);
  if (parsed.ok) throw new Error("expected the proof not to parse");
  return parsed.reason;
}

/** Rewrites the proof's lines before the checkpoint (1-based line numbers, as reasons give them). */
function withLines(text: string, change: (lines: string[]) => string[]): string {
  const split = text.indexOf("\n\n");
  return `${change(text.slice(0, split).split("\n")).join("\n")}${text.slice(split)}`;
}

const FULL = 40;
const MIDDLE = 13;
const full = formatTlogProof(proofOf(FULL, MIDDLE));
const verifiers = [key.verifier];

describe("the proof text", () => {
  test("is the header, extra, index, one base64 hash a line, a blank line and the signed note verbatim", () => {
    const proof = proofOf(FULL, MIDDLE);
    const lines = [
      "c2sp.org/tlog-proof@v1",
      `extra ${canonicalBytes(CONTENTS[MIDDLE]).toString("base64")}`,
      `index ${MIDDLE}`,
      ...proof.auditPath.map((hash) => hash.toString("base64")),
      "",
    ];
    expect(full).toBe(`${lines.join("\n")}\n${proof.checkpointNote}`);
    expect(full.endsWith("\n")).toBe(true);
    expect(full).toMatch(/\n\naos\.local\/run\/[^\n]+\n40\n[^\n]+\naos-format aos-trace-v2\naos-chain-head [0-9a-f]{64}\n\n\u2014 aos\.local /);
  });

  test("has no audit-path lines for a one-leaf tree, and no extra line without extra data", () => {
    const note = signedCheckpointOf(1);
    expect(formatTlogProof({ extra: undefined, index: 0, auditPath: [], checkpointNote: note })).toBe(
      `${TLOG_PROOF_HEADER}\nindex 0\n\n${note}`,
    );
  });

  test("carries zero bytes of extra data as a bare \"extra \" line", () => {
    const proof = { extra: Buffer.alloc(0), index: 0, auditPath: [], checkpointNote: signedCheckpointOf(1) };
    const text = formatTlogProof(proof);
    expect(text.split("\n")[1]).toBe("extra ");
    expect(parseTlogProof(text)).toEqual({ ok: true, proof });
  });

  test("round-trips through parseTlogProof for any extra data, index and audit path", () => {
    const checkpointNote = signedCheckpointOf(5);
    fc.assert(
      fc.property(
        fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }),
        fc.maxSafeNat(),
        fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 64 }),
        (extra, index, path) => {
          const proof = {
            extra: extra === undefined ? undefined : Buffer.from(extra),
            index,
            auditPath: path.map((hash) => Buffer.from(hash)),
            checkpointNote,
          };
          expect(parseTlogProof(formatTlogProof(proof))).toEqual({ ok: true, proof });
        },
      ),
    );
  });

  test("formatTlogProof refuses what no parser would accept", () => {
    const good = proofOf(FULL, MIDDLE);
    expect(() => formatTlogProof({ ...good, index: -1 })).toThrow(/not a valid leaf index/);
    expect(() => formatTlogProof({ ...good, index: 1.5 })).toThrow(/not a valid leaf index/);
    const shortHash = [...good.auditPath.slice(0, 2), Buffer.alloc(31)];
    expect(() => formatTlogProof({ ...good, auditPath: shortHash })).toThrow(/hash 3 is 31 bytes, not 32/);
    const body = good.checkpointNote.slice(0, good.checkpointNote.indexOf("\n\n") + 1);
    expect(() => formatTlogProof({ ...good, checkpointNote: body })).toThrow(/not a signed note/);
    expect(() => formatTlogProof({ ...good, checkpointNote: `\n${good.checkpointNote}` })).toThrow(/blank line/);
  });
});

describe("a proof for every step of trees of 1 to 40 steps", () => {
  test("parses back to what was formatted and verifies to the step's content and leaf hash", () => {
    for (let treeSize = 1; treeSize <= MAX_STEPS; treeSize += 1) {
      const note = signedCheckpointOf(treeSize);
      for (let index = 0; index < treeSize; index += 1) {
        const proof = proofOf(treeSize, index, note);
        const text = formatTlogProof(proof);
        expect(parseTlogProof(text)).toEqual({ ok: true, proof });
        const verdict = verifyTlogProof(text, verifiers, { origin: ORIGIN });
        if (!verdict.ok) throw new Error(`size ${treeSize}, index ${index}: ${verdict.reason}`);
        expect(verdict).toMatchObject({ index, treeSize, leafHash: leafHash(CONTENTS[index] as StepContent) });
        expect(verdict.verifiedBy).toEqual(["aos.local"]);
        expect(verdict.checkpoint).toMatchObject({ origin: ORIGIN, treeSize, chainHead: CHAIN_HEAD });
        expect(JSON.parse(verdict.extra.toString("utf8"))).toEqual(CONTENTS[index]);
      }
    }
  });

  test("verifies with a rotated-out key still among the verifiers", () => {
    const older = signingKeyFromSeed("aos.local", Buffer.alloc(32, 2));
    const text = formatTlogProof(proofOf(FULL, MIDDLE, signedCheckpointOf(FULL, older)));
    expect(verifyTlogProof(text, [key.verifier, older.verifier]).ok).toBe(true);
  });
});

describe("verifyTlogProof refuses", () => {
  test("a proof whose step content differs from the logged one in any byte", () => {
    const proof = proofOf(FULL, MIDDLE);
    const extra = proof.extra as Buffer;
    for (let at = 0; at < extra.length; at += 1) {
      const changed = Buffer.from(extra);
      changed[at] = (changed[at] as number) ^ 0x01;
      const { code, reason } = refusal(verifyTlogProof(formatTlogProof({ ...proof, extra: changed }), verifiers));
      expect(code).toBe("AUDIT_PATH_MISMATCH");
      expect(reason).toMatch(/^audit path does not lead to the checkpoint's root: /);
      expect(reason).toMatch(/the extra data \(leaf hash [0-9a-f]{64}\) is not the logged leaf 13/);
    }
  });

  test("another step's content presented at this index", () => {
    const proof = { ...proofOf(FULL, MIDDLE), extra: canonicalBytes(CONTENTS[MIDDLE + 1]) };
    expect(refusal(verifyTlogProof(formatTlogProof(proof), verifiers)).code).toBe("AUDIT_PATH_MISMATCH");
  });

  test("the right content and path under a wrong index", () => {
    const proof = proofOf(FULL, MIDDLE);
    for (const index of [0, MIDDLE - 1, MIDDLE + 1, 32, FULL - 1]) {
      const { code, reason } = refusal(verifyTlogProof(formatTlogProof({ ...proof, index }), verifiers));
      expect(code).toBe("AUDIT_PATH_MISMATCH");
      expect(reason).toMatch(/^audit path does not lead to the checkpoint's root/);
    }
  });

  test("an index at or past the checkpoint's tree size", () => {
    for (const index of [FULL, FULL + 1, Number.MAX_SAFE_INTEGER]) {
      const text = formatTlogProof({ ...proofOf(FULL, MIDDLE), index });
      expect(refusal(verifyTlogProof(text, verifiers))).toEqual({
        code: "INDEX_OUT_OF_RANGE",
        reason: `index out of range: leaf ${index} is not in the checkpoint's tree of 40 leaves`,
      });
    }
  });

  test("an audit path with any one hash flipped", () => {
    const proof = proofOf(FULL, MIDDLE);
    proof.auditPath.forEach((_, position) => {
      const auditPath = proof.auditPath.map((hash, at) => (at === position ? flipLastBit(hash) : hash));
      const { code } = refusal(verifyTlogProof(formatTlogProof({ ...proof, auditPath }), verifiers));
      expect(code).toBe("AUDIT_PATH_MISMATCH");
    });
  });

  test("an audit path with a line removed or added, saying how many hashes the leaf needs", () => {
    const needed = proofOf(FULL, MIDDLE).auditPath.length;
    const removed = withLines(full, (lines) => lines.filter((_, at) => at !== 4));
    const added = withLines(full, (lines) => [...lines, (lines[3] as string)]);
    expect(refusal(verifyTlogProof(removed, verifiers))).toEqual({
      code: "AUDIT_PATH_MISMATCH",
      reason:
        "audit path does not lead to the checkpoint's root: " +
        `it has ${needed - 1} hashes, but leaf 13 of a 40-leaf tree needs ${needed}`,
    });
    expect(refusal(verifyTlogProof(added, verifiers)).reason).toMatch(`it has ${needed + 1} hashes`);
  });

  test("a checkpoint signed by a key the verifier does not trust", () => {
    const stranger = generateSigningKey("aos.local");
    const text = formatTlogProof(proofOf(FULL, MIDDLE, signedCheckpointOf(FULL, stranger)));
    const { code, reason } = refusal(verifyTlogProof(text, verifiers));
    expect(code).toBe("UNKNOWN_KEY");
    expect(reason).toMatch(/^unknown key: the checkpoint is signed by no trusted key; .*aos\.local\+[0-9a-f]{8}/);
    expect(refusal(verifyTlogProof(full, [])).code).toBe("UNKNOWN_KEY");
  });

  test("a checkpoint whose body was changed under its signature", () => {
    const note = signedCheckpointOf(FULL).replace(/\n40\n/, "\n41\n");
    const { code, reason } = refusal(verifyTlogProof(formatTlogProof(proofOf(FULL, MIDDLE, note)), verifiers));
    expect(code).toBe("INVALID_SIGNATURE");
    expect(reason).toMatch(/^bad signature on the checkpoint: the signature by aos\.local\+[0-9a-f]{8} does not/);
  });

  test("a genuine checkpoint of a different tree size", () => {
    const smaller = signedCheckpointOf(FULL - 1);
    const path = verifyTlogProof(formatTlogProof(proofOf(FULL, MIDDLE, smaller)), verifiers);
    expect(refusal(path).code).toBe("AUDIT_PATH_MISMATCH");
    const last = verifyTlogProof(formatTlogProof(proofOf(FULL, FULL - 1, smaller)), verifiers);
    expect(refusal(last).code).toBe("INDEX_OUT_OF_RANGE");
  });

  test("a checkpoint made for another run when the origin is given", () => {
    const { code, reason } = refusal(verifyTlogProof(full, verifiers, { origin: "aos.local/run/other" }));
    expect(code).toBe("ORIGIN_MISMATCH");
    expect(reason).toContain('"aos.local/run/other"');
  });

  test("a proof without the step's content", () => {
    const text = formatTlogProof({ ...proofOf(FULL, MIDDLE), extra: undefined });
    expect(parseTlogProof(text).ok).toBe(true);
    expect(refusal(verifyTlogProof(text, verifiers))).toEqual({
      code: "NO_LEAF_CONTENT",
      reason: "no leaf content: the proof has no extra line holding the step's canonical content",
    });
  });

  test("a malformed proof, naming its line", () => {
    const verdict = verifyTlogProof(full.replace(`index ${MIDDLE}`, `index 0${MIDDLE}`), verifiers);
    expect(refusal(verdict)).toEqual({
      code: "MALFORMED_PROOF",
      reason: `malformed line 3: the index "0${MIDDLE}" is not a decimal without leading zeros`,
    });
  });
});

describe("parseTlogProof refuses", () => {
  test("any header but the exact one", () => {
    const headers = ["c2sp.org/tlog-proof@v2", "c2sp.org/tlog-proof@v1 ", "c2sp.org/tlog-proof@v1\r", "", "index 0"];
    for (const header of headers) {
      expect(parseRefusal(withLines(full, ([, ...rest]) => [header, ...rest]))).toBe(
        'malformed line 1: is not "c2sp.org/tlog-proof@v1"',
      );
    }
    expect(parseRefusal(withLines(full, ([, ...rest]) => rest))).toMatch(/^malformed line 1:/);
  });

  test("an index with leading zeros, a sign, another notation or no digits", () => {
    for (const index of ["013", "00", "+13", "-1", "1e1", "0x0d", " 13", "13 ", ""]) {
      const text = withLines(full, (lines) => lines.map((line, at) => (at === 2 ? `index ${index}` : line)));
      expect(parseRefusal(text)).toBe(
        `malformed line 3: the index "${index}" is not a decimal without leading zeros`,
      );
    }
    expect(parseRefusal(full.replace(`index ${MIDDLE}`, "index 9007199254740992"))).toBe(
      "malformed line 3: the index 9007199254740992 is too large",
    );
  });

  test("the extra line anywhere but right after the header, or twice", () => {
    const [header, extra, index, ...path] = full.slice(0, full.indexOf("\n\n")).split("\n") as string[];
    const misplaced = withLines(full, () => [header as string, index as string, extra as string, ...path]);
    expect(parseRefusal(misplaced)).toBe(
      "malformed line 3: is neither a blank line nor a standard base64 audit-path hash",
    );
    const twice = withLines(full, () => [header as string, extra as string, extra as string, index as string, ...path]);
    expect(parseRefusal(twice)).toBe('malformed line 3: is not "index <decimal leaf index>"');
  });

  test("extra data or hashes that are not canonical standard base64, and hashes of the wrong size", () => {
    expect(parseRefusal(withLines(full, (lines) => lines.map((l, at) => (at === 1 ? "extra e30" : l))))).toBe(
      "malformed line 2: does not hold canonical standard base64 extra data",
    );
    const hash = (text: string) => withLines(full, (lines) => lines.map((l, at) => (at === 4 ? text : l)));
    const urlSafe = Buffer.alloc(32, 0xfb).toString("base64url");
    expect(parseRefusal(hash(urlSafe))).toMatch(/^malformed line 5: is neither a blank line nor/);
    expect(parseRefusal(hash(Buffer.alloc(32).toString("base64").replace("A=", "B=")))).toMatch(/^malformed line 5/);
    expect(parseRefusal(hash(Buffer.alloc(31).toString("base64")))).toBe(
      "malformed line 5: holds 31 bytes, not a 32-byte hash",
    );
  });

  test("anything but exactly one blank line before a signed-note checkpoint", () => {
    const split = full.indexOf("\n\n");
    const checkpointLine = full.slice(0, split).split("\n").length + 2;
    expect(parseRefusal(`${full.slice(0, split)}\n${full.slice(split)}`)).toBe(
      `malformed line ${checkpointLine}: ` +
        "the checkpoint starts with a blank line; exactly one separates it from the audit path",
    );
    expect(parseRefusal(full.slice(0, split))).toBe(
      "the proof ends before the blank line that precedes the checkpoint",
    );
    expect(parseRefusal(full.slice(0, split + 2))).toBe(`malformed line ${checkpointLine}: the checkpoint is missing`);
    const unsigned = full.slice(0, full.lastIndexOf("\n\n") + 2);
    expect(parseRefusal(unsigned)).toBe(
      `malformed line ${checkpointLine}: the checkpoint is not a signed note: ` +
        "the note has no signature lines after its blank line",
    );
    expect(parseRefusal(`${full}trailing\n`)).toMatch(/the checkpoint is not a signed note: signature line 2/);
  });
});
