import { describe, expect, test } from "vitest";
import { MAX_DEPTH, parseStrictJson } from "./strict-json.js";

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

describe("parseStrictJson: I-JSON, as a bundle and its records are read", () => {
  test.each([
    ['{"a":1,"a":2}', /the member "a" appears twice/],
    ['{"a":{"b":1,"b":1}}', /the member "b" appears twice/],
    ['{"a\\"b":1,"a\\u0022b":2}', /the member "a\\"b" appears twice/],
    ['{"a\\\\":1,"b":"\\\\","a\\\\":2}', /the member "a\\\\" appears twice/],
    ['{"\\ud800":1}', /holds a lone surrogate/],
    ['{"a":["x","\\udc00"]}', /a\[1\] holds a lone surrogate/],
    [new Uint8Array([0x7b, 0xff, 0x7d]), /not UTF-8/],
    ["{'a':1}", /not JSON/],
    [`{"a":${nested(MAX_DEPTH)}}`, /nests deeper than 64/],
  ])("refuses %s", (input, reason) => {
    expect(parseStrictJson(input)).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
  });

  test.each([
    ['{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}', []],
    ['{"a:b":"x,y:z","b":"1.5e3","c":true,"d":false,"e":null}', []],
    ['{"a":"\\ud83d\\ude00"}', []],
    [`{"a":${nested(MAX_DEPTH - 1)}}`, []],
    ['{"a":1.0,"b":2,"c":{"d":1e3},"e":[3E1]}', ["a", "c", "e"]],
    ['{"a":-0,"b":12345678901234567890}', []],
  ])("accepts %s, naming the members written with a fraction or exponent", (input, fractional) => {
    expect(parseStrictJson(input)).toMatchObject({ ok: true, fractionalMembers: fractional });
  });
});
