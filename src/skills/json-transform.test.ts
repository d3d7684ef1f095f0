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

describe("json_transform, query mode (JSONata)", () => {
  it("evaluates a JSONata expression over the payload", async () => {
    const orders = { items: [{ name: "a", price: 5 }, { name: "b", price: 12 }, { name: "c", price: 30 }] };
    expect(await transform({ payload: orders, query: "$sum(items.price)" })).toMatchObject({ status: "ok", result: 47 });
    expect(await transform({ payload: orders, query: "items[price > 10].name" })).toMatchObject({ status: "ok", result: ["b", "c"] });
    expect(await transform({ payload: orders, query: '{"count": $count(items), "first": items[0].name}' })).toMatchObject({
      status: "ok",
      result: { count: 3, first: "a" },
    });
    expect(await transform({ payload: orders, query: "nothing.here" })).toMatchObject({ status: "ok", result: null });
  });

  it("refuses a query that does not compile, reads the clock or chance, or comes with a mapping", () => {
    const issues = (raw: Record<string, unknown>) => jsonTransformSkill.input.safeParse(raw).error?.issues.map((issue) => issue.message);
    expect(issues({ payload: {}, query: "items[" })?.[0]).toMatch(/^not a JSONata query: /);
    expect(issues({ payload: {}, query: "$now()" })).toEqual(["$now() is not allowed: json_transform is deterministic (the same payload gives the same result)"]);
    expect(issues({ payload: {}, query: "{'x': $random()}" })?.[0]).toMatch(/\$random\(\) is not allowed/);
    expect(issues({ payload: {}, query: "a", mapping: { a: "a" } })).toEqual(['give exactly one of "mapping" (paths) or "query" (a JSONata expression)']);
    expect(issues({ payload: {} })).toEqual(['give exactly one of "mapping" (paths) or "query" (a JSONata expression)']);
  });

  it("fails the step, not the worker, on an evaluation error or a runaway expression", async () => {
    expect(await transform({ payload: { a: "x" }, query: "a + 1" })).toMatchObject({
      status: "error",
      error: { code: "TRANSFORM_QUERY_FAILED", retryable: false },
    });
    const runaway = await transform({ payload: {}, query: "($f := function($n) { $f($n + 1) }; $f(0))" });
    expect(runaway).toMatchObject({ status: "error", error: { code: "TRANSFORM_QUERY_FAILED" } });
    expect((runaway as { error: { message: string } }).error.message).toMatch(/nested deeper than 500 levels|ran longer than/);
  });
});
