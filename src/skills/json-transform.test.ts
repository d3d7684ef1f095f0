import { describe, expect, it } from "vitest";
import { skillContext } from "../../test/support/skill-context.js";
import type { SkillOutcome } from "./contract.js";
import { parsePath } from "./json-path.js";
import { jsonTransformSkill } from "./json-transform.js";

const ctx = skillContext();

function transform(raw: Record<string, unknown>): Promise<SkillOutcome> {
  return jsonTransformSkill.execute(jsonTransformSkill.input.parse(raw), ctx);
}

const payload = {
  data: { items: [{ name: "first", tags: ["a", "b"] }, { name: "last", price: null }], total: 2 },
  items: [10, 20, 30],
};

describe("json_transform", () => {
  it("maps dotted paths with positive and negative indexes", async () => {
    const outcome = await transform({
      payload,
      mapping: { first: "data.items[0].name", last: "data.items[-1].name", tag: "data.items[0].tags[-2]", tail: "items[-1]", total: "$.data.total" },
    });
    expect(outcome).toEqual({
      status: "ok",
      result: { first: "first", last: "last", tag: "a", tail: 30, total: 2 },
      sideEffects: { costCents: 0, tokens: 0 },
    });
  });

  it('returns the whole payload for "" and "$", and for a top-level array', async () => {
    expect((await transform({ payload, mapping: { all: "", same: "$" } })).result).toEqual({ all: payload, same: payload });
    expect((await transform({ payload: [1, 2], mapping: { second: "[1]", also: "$[-1]" } })).result).toEqual({ second: 2, also: 2 });
  });

  it("keeps a present null, and uses defaults only for missing paths", async () => {
    const outcome = await transform({
      payload,
      mapping: { price: "data.items[1].price", currency: "data.currency", third: "data.items[2].name" },
      defaults: { price: 99, currency: "EUR", third: null },
    });
    expect(outcome.result).toEqual({ price: null, currency: "EUR", third: null });
  });

  it("fails with TRANSFORM_PATH_MISSING naming every key and path without a default", async () => {
    const outcome = await transform({
      payload,
      mapping: { name: "data.items[0].name", count: "data.count", far: "items[3]", wrong: "items.0" },
    });
    expect(outcome).toMatchObject({
      status: "error",
      error: {
        code: "TRANSFORM_PATH_MISSING",
        retryable: false,
        message: 'json_transform: no value and no default for count ("data.count"), far ("items[3]"), wrong ("items.0")',
        details: { missing: [{ key: "count", path: "data.count" }, { key: "far", path: "items[3]" }, { key: "wrong", path: "items.0" }] },
      },
    });
  });

  it("never reaches inherited properties", async () => {
    const outcome = await transform({ payload: { a: {} }, mapping: { c: "a.constructor", p: "a.__proto__", s: "a.toString" } });
    expect(outcome).toMatchObject({ error: { code: "TRANSFORM_PATH_MISSING" } });
  });

  it("rejects malformed paths and unknown input keys at validation", () => {
    for (const path of ["a..b", ".a", "a[0]b", "a[x]", "a[", "a.[0]", "a]"]) {
      expect(parsePath(path), path).toBeUndefined();
      expect(jsonTransformSkill.input.safeParse({ payload, mapping: { x: path } }).success, path).toBe(false);
    }
    expect(jsonTransformSkill.input.safeParse({ payload, mapping: {}, extra: 1 }).success).toBe(false);
  });

  it("parses paths into keys and indexes", () => {
    expect(parsePath("data.items[-1].name")).toEqual([{ key: "data" }, { key: "items" }, { index: -1 }, { key: "name" }]);
    expect(parsePath("$")).toEqual([]);
    expect(parsePath("$foo")).toEqual([{ key: "$foo" }]);
  });
});
