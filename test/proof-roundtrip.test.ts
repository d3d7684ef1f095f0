import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { getRunProof } from "../src/services/proofs.js";
import { getRunDetail } from "../src/services/runs.js";
import { canonicalJson } from "../src/trace/canonical-json.js";
import { toStorableJson } from "../src/trace/storable-json.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runToEnd, testConfig } from "./support/harness.js";

/**
 * Exact bytes, as a property: any content a step records — unicode (astral characters, combining marks, escapes),
 * big, long and fractional numbers, deep objects — is stored as the canonical bytes that were hashed, read back as
 * exactly those bytes and that value, and verifies. Each sample is a real run. (A plan holding U+0000 or a lone
 * surrogate is not accepted as input at all; a skill's result holding them is made storable, tested below.)
 */
const text = fc.string({ unit: "grapheme", maxLength: 12 }).filter((value) => !value.includes("{{"));
const odd = fc.constantFrom("\u2028", "\\u0000", "\\ud800", "\"", "\\", "𝄞", "é", "e\u0301", "\u007f", "\t\n");
const number = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(12345678901234567000, 0.1, 1e21, 1e-7, -0, 5e-324, Number.MAX_SAFE_INTEGER + 2, 1.7976931348623157e308),
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  any: fc.oneof({ depthSize: "small", maxDepth: 6 }, text, odd, number, fc.boolean(), fc.constant(null), tie("array"), tie("object")),
  array: fc.array(tie("any"), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(text, odd), tie("any"), { maxKeys: 4 }),
})).any;

describeOnBackends("recorded content round-trips byte for byte on $name", (backend) => {
  const config = testConfig();
  let db: TestDatabase;
  let runs = 0;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("record → read → verify, for generated content", { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(value, async (generated) => {
        const payload = { v: generated, deep: [[[[{ v: generated }]]]] };
        const detail = await runToEnd(db, config, {
          tenantId: "t-roundtrip",
          goal: `round trip ${++runs}`,
          plan: { steps: [{ step_id: "echo", skill: "json_transform", params: { payload, mapping: { out: "v", deep: "deep" } } }] },
        });
        expect(detail.run.status).toBe("succeeded");
        const storable = toStorableJson(payload);
        const { rows } = await db.pool.query("select params_jcs, outcome_jcs from aos_trace_steps where trace_id = $1", [`trace_${detail.run.id}`]);
        // Stored: exactly the canonical bytes of what the step was given and returned.
        expect(rows[0].params_jcs.toString("utf8")).toBe(canonicalJson({ payload: storable, mapping: { out: "v", deep: "deep" } }));
        expect(rows[0].outcome_jcs.toString("utf8")).toBe(canonicalJson({ out: (storable as { v: unknown }).v, deep: (storable as { deep: unknown }).deep }));
        // Read: the same value, parsed from those bytes; and verified, every copy agreeing with the bytes.
        const read = await getRunDetail(db, config, "t-roundtrip", detail.run.id);
        expect(read.steps[0]?.params).toEqual({ payload: storable, mapping: { out: "v", deep: "deep" } });
        expect(Object.is((read.steps[0]?.outcomeData as { out: unknown }).out, (storable as { v: unknown }).v) || typeof (storable as { v: unknown }).v === "object").toBe(true);
        expect((await getRunProof(db, config, "t-roundtrip", detail.run.id)).verification_status).toBe("VERIFIED");
      }),
      { numRuns: backend.name === "pglite" ? 60 : 40 },
    );
  });

  it("a skill result holding U+0000 or lone surrogates is stored as U+FFFD, hashed as stored, and verifies", async () => {
    // JSONata turns the escapes in its string literals into the characters themselves.
    const query = '{"nul": "a\\u0000b", "high": "x\\ud800", "low": "\\udfffy", "pair": "\\ud834\\udd1e"}';
    const detail = await runToEnd(db, config, {
      tenantId: "t-roundtrip",
      goal: "odd characters from a skill",
      plan: { steps: [{ step_id: "odd", skill: "json_transform", params: { payload: {}, query } }] },
    });
    expect(detail.run.status).toBe("succeeded");
    expect(detail.steps[0]?.outcomeData).toEqual({ nul: "a\ufffdb", high: "x\ufffd", low: "\ufffdy", pair: "𝄞" });
    const { rows } = await db.pool.query("select outcome_jcs from aos_trace_steps where trace_id = $1", [`trace_${detail.run.id}`]);
    expect(rows[0].outcome_jcs.toString("utf8")).toBe('{"high":"x\ufffd","low":"\ufffdy","nul":"a\ufffdb","pair":"𝄞"}');
    expect((await getRunProof(db, config, "t-roundtrip", detail.run.id)).verification_status).toBe("VERIFIED");
  });
});
