// Writes src/client/api-types.ts, the SDK's types, from the OpenAPI document the server serves: every named
// schema (components.schemas) becomes a type. Run after changing a route's schema: `npx tsx scripts/client-types.ts`;
// test/api-contract.test.ts fails until you do.
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

type Schema = Record<string, unknown>;

const HEADER = `// Generated from /docs/openapi.json by scripts/client-types.ts: do not edit. The SDK's types (types.ts) are these.\n`;

/** The TypeScript module for a document's named schemas. */
export function clientTypes(document: { components: { schemas: Record<string, Schema> } }): string {
  const types = Object.entries(document.components.schemas)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, schema]) => `${doc(schema, "")}export type ${name} = ${typeOf(schema, "")};\n`);
  return `${HEADER}\n${types.join("\n")}`;
}

function doc(schema: Schema, indent: string): string {
  return typeof schema.description === "string" ? `${indent}/** ${schema.description.replaceAll("*/", "*\\/")} */\n` : "";
}

/** A JSON Schema (2020-12, as zod writes it) as a TypeScript type; `if`/`then` and string bounds have no type. */
function typeOf(schema: Schema, indent: string): string {
  if (typeof schema.$ref === "string") return schema.$ref.replace("#/components/schemas/", "");
  if ("const" in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (union !== undefined) return union.map((part) => wrap(typeOf(part, indent))).join(" | ");
  if (Array.isArray(schema.type)) return schema.type.map((type: string) => wrap(typeOf({ ...schema, type }, indent))).join(" | ");
  switch (schema.type) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array":
      return `${wrap(typeOf((schema.items ?? {}) as Schema, indent))}[]`;
    case "object":
      return objectOf(schema, indent);
    default:
      return "unknown";
  }
}

function objectOf(schema: Schema, indent: string): string {
  const properties = Object.entries((schema.properties ?? {}) as Record<string, Schema>);
  const extra = schema.additionalProperties;
  const rest = extra === false ? undefined : typeOf(extra === undefined || extra === true ? {} : (extra as Schema), indent);
  if (properties.length === 0) return `Record<string, ${rest ?? "never"}>`;
  const required = new Set((schema.required ?? []) as string[]);
  const inner = `${indent}  `;
  const lines = properties.map(([name, property]) => `${doc(property, inner)}${inner}${name}${required.has(name) ? "" : "?"}: ${typeOf(property, inner)};`);
  if (rest !== undefined) lines.push(`${inner}[field: string]: ${rest};`);
  return `{\n${lines.join("\n")}\n${indent}}`;
}

function wrap(type: string): string {
  return type.includes(" | ") || type.includes("\n") ? `(${type})` : type;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { API_ROUTES, API_VERSION } = await import("../src/api/server.js");
  const { openApiDocument } = await import("../src/api/openapi.js");
  const document = openApiDocument(API_ROUTES, API_VERSION) as { components: { schemas: Record<string, Schema> } };
  writeFileSync(new URL("../src/client/api-types.ts", import.meta.url), clientTypes(document));
}
