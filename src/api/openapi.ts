import { z } from "zod";
import { errorEnvelopeSchema } from "./envelope.js";
import type { Routes, RouteSpec } from "./route.js";

/** JSON Schema 2020-12, which OpenAPI 3.1 uses as is: a request schema as callers write it (defaults optional). */
function schemaOf(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

/** Path and query parameters from an object schema's properties. */
function parametersOf(schema: z.ZodType | undefined, where: "path" | "query"): Record<string, unknown>[] {
  if (schema === undefined) return [];
  const json = schemaOf(schema, "input") as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === "path" || (json.required ?? []).includes(name),
    schema: property,
    ...(typeof property.description === "string" ? { description: property.description } : {}),
  }));
}

const ERROR_RESPONSE = { description: "The error envelope", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };

function operationOf(spec: RouteSpec): Record<string, unknown> {
  const parameters = [...parametersOf(spec.params, "path"), ...parametersOf(spec.query, "query")];
  if (spec.idempotencyKey === true) {
    parameters.push({
      name: "Idempotency-Key",
      in: "header",
      required: false,
      description: "The same key within 24 hours returns the same run instead of creating another",
      schema: { type: "string", minLength: 1, maxLength: 255 },
    });
  }
  const success =
    spec.produces !== undefined
      ? { description: spec.summary, content: { [spec.produces]: { schema: { type: "string" } } } }
      : { description: spec.summary, content: { "application/json": { schema: spec.response === undefined ? {} : schemaOf(spec.response, "output") } } };
  return {
    summary: spec.summary,
    tags: [spec.tag],
    operationId: `${spec.method.toLowerCase()}${spec.url.replace(/\/api\/v1/, "").replace(/[/:{}_-]+(\w)/g, (_match, letter: string) => letter.toUpperCase())}`,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(spec.body === undefined ? {} : { requestBody: { required: true, content: { "application/json": { schema: schemaOf(spec.body, "input") } } } }),
    ...(spec.auth ? { security: [{ bearer: [] }, { aosKey: [] }] } : { security: [] }),
    responses: { [String(spec.successStatus)]: success, default: ERROR_RESPONSE },
  };
}

/** The OpenAPI 3.1 document, generated from the route table. */
export function openApiDocument(routes: Routes, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of routes) {
    const path = spec.url.replace(/:(\w+)/g, "{$1}");
    paths[path] = { ...paths[path], [spec.method.toLowerCase()]: operationOf(spec) };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "AOS API",
      version,
      description:
        "Governed agent runs with signed, offline-verifiable proofs. Authenticate with an API key (`aos api-keys create`) " +
        "as `Authorization: Bearer <key>` (or `X-AOS-Key`); the tenant is the key's.",
    },
    paths,
    components: {
      schemas: { Error: schemaOf(errorEnvelopeSchema, "output") },
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer" },
        aosKey: { type: "apiKey", in: "header", name: "X-AOS-Key" },
      },
    },
  };
}

/** A small page listing the routes, linking the spec; no assets, so it works offline. */
export function docsPage(routes: Routes): string {
  const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
  const rows = routes
    .map((spec) => `<tr><td><code>${spec.method}</code></td><td><code>${escape(spec.url.replace(/:(\w+)/g, "{$1}"))}</code></td><td>${escape(spec.summary)}</td><td>${spec.auth ? "API key" : "public"}</td></tr>`)
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AOS API</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}td{padding:.2rem .8rem;vertical-align:top}</style></head>
<body><h1>AOS API</h1>
<p>OpenAPI 3.1: <a href="/docs/openapi.json">/docs/openapi.json</a>. Errors are <code>{"error":{"code","message","category","retryable","details"}}</code>.</p>
<table><thead><tr><th>method</th><th>path</th><th>what</th><th>auth</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
}
