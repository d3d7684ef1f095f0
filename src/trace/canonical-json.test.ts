import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { canonicalBytes, canonicalJson } from "./canonical-json.js";

// Expected outputs are RFC 8785's own (https://www.rfc-editor.org/rfc/rfc8785), taken from the RFC's XML source
// as kept by its first author in cyberphone/ietf-json-canon (xmlv3/rfc8785.xml): §3.2.2 and §3.2.3 for the sample
// object, §3.2.3 for the sorting test data, §3.2.4 for the UTF-8 bytes, Appendix B for the numbers.

// The §3.2.2 input as JSON text (escapes and all), so JSON.parse does what the RFC's "parsed" means.
const RFC_SAMPLE_INPUT = String.raw`{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`;
const RFC_SAMPLE_OUTPUT =
  String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],` +
  String.raw`"string":"€$\u000f\nA'B\"\\\\\"/"}`;

describe("RFC 8785 examples", () => {
  test("§3.2.2/§3.2.3: the sample object is sorted and its primitives serialised", () => {
    expect(canonicalJson(JSON.parse(RFC_SAMPLE_INPUT))).toBe(RFC_SAMPLE_OUTPUT);
  });

  test("§3.2.4: the sample's UTF-8 bytes", () => {
    const expected = `
      7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
      75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
      5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
      65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
      5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
      30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d`;
    expect(canonicalBytes(JSON.parse(RFC_SAMPLE_INPUT)).toString("hex")).toBe(expected.replace(/\s+/g, ""));
  });

  test("§3.2.3: property names sort by UTF-16 code units", () => {
    const input = String.raw`{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`;
    const output = canonicalJson(JSON.parse(input));
    const valuesInOrder = [...output.matchAll(/:"([^"]*)"/g)].map((match) => match[1]);
    expect(valuesInOrder).toEqual([
      "Carriage Return",
      "One",
      "Control",
      "Latin Small Letter O With Diaeresis",
      "Euro Sign",
      "Emoji: Grinning Face",
      "Hebrew Letter Dalet With Dagesh",
    ]);
    expect(output).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  test.each([
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ])("Appendix B: the IEEE 754 value %s serialises as %s", (ieee, expected) => {
    expect(canonicalJson(Buffer.from(ieee, "hex").readDoubleBE(0))).toBe(expected);
  });

  test.each(["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])(
    "Appendix B / §3.2.2.3: %s (NaN or an infinity) is an error",
    (ieee) => {
      expect(() => canonicalJson({ n: Buffer.from(ieee, "hex").readDoubleBE(0) })).toThrow(TypeError);
    },
  );
});

describe("RFC 8785 rules", () => {
  test("§3.2.2.2: controls are \\b \\t \\n \\f \\r or lowercase \\u00xx; only \" and \\ else are escaped", () => {
    const controls = Array.from({ length: 0x20 }, (_, code) => String.fromCharCode(code)).join("");
    expect(canonicalJson(controls)).toBe(
      String.raw`"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f` +
        String.raw`\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"`,
    );
    expect(canonicalJson('"\\/\u007f\u0080\u2028\u2029\ufeff')).toBe('"\\"\\\\/\u007f\u0080\u2028\u2029\ufeff"');
  });

  test("§3.2.2.2: a lone surrogate is an error, in a value or in a property name", () => {
    expect(() => canonicalJson("\ud800")).toThrow(/lone surrogate U\+D800/);
    expect(() => canonicalJson(["ok", "a\ude00b"])).toThrow(/lone surrogate U\+DE00/);
    expect(() => canonicalJson({ "\udead": 1 })).toThrow(/lone surrogate U\+DEAD/);
    expect(() => canonicalJson("\ude00\ud83d")).toThrow(TypeError);
    expect(canonicalJson("\ud83d\ude00")).toBe('"\ud83d\ude00"');
  });

  test("§3.2.3: children are sorted recursively and array order is kept", () => {
    const value = { b: [{ z: 1, a: [3, 1, 2] }, { y: { d: null, c: true } }], a: { bb: 1, b: 2, ba: 3 } };
    const expected = '{"a":{"b":2,"ba":3,"bb":1},"b":[{"a":[3,1,2],"z":1},{"y":{"c":true,"d":null}}]}';
    expect(canonicalJson(value)).toBe(expected);
  });

  test("the result is the same whatever order the members were created in", () => {
    expect(canonicalJson({ b: 1, a: 2, 10: 3, 9: 4 })).toBe(canonicalJson({ 9: 4, a: 2, 10: 3, b: 1 }));
    expect(canonicalJson({ b: 1, a: 2, 10: 3, 9: 4 })).toBe('{"10":3,"9":4,"a":2,"b":1}');
  });
});

describe("values JSON cannot carry", () => {
  test("undefined members are omitted, as JSON.stringify does", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  test("undefined array items and holes are refused rather than written as invalid JSON or null", () => {
    expect(() => canonicalJson([undefined])).toThrow(TypeError);
    const holey: unknown[] = [];
    holey[1] = 1;
    expect(() => canonicalJson(holey)).toThrow(TypeError);
  });

  test("bigints, functions and symbols are refused", () => {
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
    expect(() => canonicalJson({ a: () => 1 })).toThrow(TypeError);
    expect(() => canonicalJson([Symbol("s")])).toThrow(TypeError);
  });

  test("dates are written as their ISO string", () => {
    expect(canonicalJson({ at: new Date("2024-01-02T03:04:05.678Z") })).toBe('{"at":"2024-01-02T03:04:05.678Z"}');
  });

  test("a well-formed string is quoted exactly as JSON.stringify quotes it (the fast path included)", () => {
    const text = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: fc.constantFrom('"', "\\", "\n", "\u0000", "\u001f", "\u007f", "\u2028", "a", "é") }));
    fc.assert(fc.property(text, (value) => canonicalJson(value) === JSON.stringify(value) && canonicalJson({ [value]: value }) === JSON.stringify({ [value]: value })));
  });
});
