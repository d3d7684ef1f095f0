import { describe, expect, it } from "vitest";
import { interpolate, UnresolvedReference } from "./interpolate.js";

describe("interpolate", () => {
  const context = new Map<string, unknown>([["order", { id: 42, name: "Ada", note: "{{order.name}}", items: [{ sku: "a" }, { sku: "b" }] }]]);

  it("keeps a whole reference's type and turns a reference inside text into text", () => {
    expect(interpolate({ id: "{{order.id}}", line: "order {{order.id}} for {{ order.name }}" }, context)).toEqual({ id: 42, line: "order 42 for Ada" });
    expect(interpolate(["{{order.items[-1].sku}}", "{{order.items}}!"], context)).toEqual(["b", '[{"sku":"a"},{"sku":"b"}]!']);
  });

  it("inserts a value that reads like a reference as it is, never resolving it again", () => {
    expect(interpolate("note: {{order.note}}; name: {{order.name}}", context)).toBe("note: {{order.name}}; name: Ada");
  });

  it("throws on a reference that does not resolve rather than leaving it in place", () => {
    expect(() => interpolate("{{order.missing}} x", context)).toThrow(UnresolvedReference);
    expect(() => interpolate("{{other.id}}", context)).toThrow(UnresolvedReference);
  });
});
