import { z } from "zod";
import { errorEnvelopeSchema } from "./envelope.js";
import { servedPaths } from "./dialects.js";
import { errorResponsesOf } from "./openapi-responses.js";
import type { Routes, RouteSpec } from "./route.js";

type JsonSchema = Record<string, unknown>;

/**
 * Collects the named schemas (zod `.meta({ id })`) of every operation as components: zod puts them in each schema's
 * `$defs`; they move to `#/components/schemas`, where one id must always mean one schema.
 */
class Components {
  readonly schemas: Record<string, JsonSchema> = {};

  /** JSON Schema 2020-12, which OpenAPI 3.1 uses as is: a request as callers write it, a response as sent. */
  schemaOf(schema: z.ZodType, io: "input" | "output"): JsonSchema {
    const converted = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema;
    const { $schema: _ignored, $defs, ...rest } = JSON.parse(JSON.stringify(converted).replaceAll('"#/$defs/', '"#/components/schemas/')) as JsonSchema;
    for (const [id, definition] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
      const known = this.schemas[id];
      if (known !== undefined && JSON.stringify(known) !== JSON.stringify(definition)) throw new Error(`two schemas are named ${id}`);
      this.schemas[id] = definition;
    }
    return rest;
  }

  /** Path, query or header parameters from an object schema's properties. */
  parametersOf(schema: z.ZodType | undefined, where: "path" | "query"): JsonSchema[] {
    if (schema === undefined) return [];
    const json = this.schemaOf(schema, "input") as { properties?: Record<string, JsonSchema>; required?: string[] };
    return Object.entries(json.properties ?? {}).map(([name, property]) => parameter(name, where, where === "path" || (json.required ?? []).includes(name), property));
  }
}

function parameter(name: string, where: "path" | "query" | "header", required: boolean, schema: JsonSchema): JsonSchema {
  const { description, ...rest } = schema;
  return { name, in: where, required, ...(typeof description === "string" ? { description } : {}), schema: rest };
}

function operationOf(spec: RouteSpec, components: Components): JsonSchema {
  const parameters = [
    ...components.parametersOf(spec.params, "path"),
    ...components.parametersOf(spec.query, "query"),
    ...Object.entries(spec.headers ?? {}).map(([name, schema]) => parameter(name, "header", false, components.schemaOf(schema, "input"))),
  ];
  if (spec.produces === undefined && spec.response === undefined) throw new Error(`${spec.method} ${spec.url} declares no response schema`);
  const body = spec.produces !== undefined ? { [spec.produces]: { schema: { type: "string" } } } : { "application/json": { schema: components.schemaOf(spec.response as z.ZodType, "output") } };
  return {
    summary: spec.summary,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    tags: [spec.tag],
    operationId: operationIdOf(spec),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(spec.body === undefined ? {} : { requestBody: { required: true, content: { "application/json": { schema: components.schemaOf(spec.body, "input") } } } }),
    ...(spec.auth ? { security: [{ bearer: [] }, { aosKey: [] }] } : { security: [] }),
    responses: { [String(spec.successStatus)]: { description: spec.summary, content: body }, ...errorResponsesOf(spec) },
  };
}

/** `getRunsRunId` for GET /api/v1/runs/:run_id; upstream's routes start `upstream`, as their paths may be ours too. */
function operationIdOf(spec: RouteSpec): string {
  const name = `${spec.method.toLowerCase()}${spec.url.replace(/\/api\/v1/, "").replace(/[/:{}_-]+(\w)/g, (_match, letter: string) => letter.toUpperCase())}`;
  return spec.dialect === "upstream" ? `upstream${name.charAt(0).toUpperCase()}${name.slice(1)}` : name;
}

const TAGS = [
  { name: "system", description: "Health, readiness and metrics; no key needed" },
  { name: "agents", description: "The tenant's agents: budgets, concurrency, the hosts their steps may reach" },
  { name: "runs", description: "Runs: create, list, follow, cancel, approve or reject" },
  { name: "proofs", description: "Signed, offline-verifiable proofs of a run's trace (docs/proofs.md)" },
  { name: "log", description: "The tenant's transparency log of finished runs as C2SP tlog-tiles: checkpoint, tiles, entry bundles (docs/tiles.md)" },
  { name: "records", description: "What a finished run leaves: integrity evidence and incidents" },
  { name: "runtime", description: "Questions an agent asks before and while it runs (docs/runtime.md)" },
  {
    name: "upstream-compat",
    description:
      "Coming from upstream AOS: the routes its JS and Python SDKs call, mapped onto the same services (docs/api.md). " +
      "Where a path is ours too, upstream's operation is the `x-upstream-dialect` of ours, served when the key arrives in X-AOS-Key.",
  },
];

/** The OpenAPI 3.1 document, generated from the route table. */
export function openApiDocument(routes: Routes, version: string): Record<string, unknown> {
  const components = new Components();
  const paths: Record<string, Record<string, Record<string, unknown>>> = {};
  for (const { spec, upstream } of servedPaths(routes)) {
    const path = spec.url.replace(/:(\w+)/g, "{$1}");
    const operation = operationOf(spec, components);
    // OpenAPI has one operation per method and path: upstream's twin of ours rides along as an extension.
    if (upstream !== undefined) operation["x-upstream-dialect"] = { "x-selected-by": "X-AOS-Key", ...operationOf(upstream, components), security: [{ aosKey: [] }] };
    paths[path] = { ...paths[path], [spec.method.toLowerCase()]: operation };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "AOS API",
      version,
      description:
        "Governed agent runs with signed, offline-verifiable proofs. Authenticate with an API key (`aos api-keys create`) " +
        "as `Authorization: Bearer <key>` (or `X-AOS-Key`); the tenant is the key's. Every error is the envelope " +
        "`Error`; string lengths count code points.",
      license: { name: "Apache-2.0", url: "https://www.apache.org/licenses/LICENSE-2.0" },
    },
    servers: [{ url: "/", description: "the AOS server that serves this document (`aos serve`, http://127.0.0.1:8000 by default)" }],
    tags: TAGS,
    paths,
    components: {
      schemas: { Error: components.schemaOf(errorEnvelopeSchema, "output"), ...sorted(components.schemas) },
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An API key from `aos api-keys create`" },
        aosKey: { type: "apiKey", in: "header", name: "X-AOS-Key", description: "The same key, in upstream's header" },
      },
    },
  };
}

function sorted(schemas: Record<string, JsonSchema>): Record<string, JsonSchema> {
  return Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)));
}

/** A small page listing the routes, linking the spec; no assets, so it works offline. */
export function docsPage(routes: Routes): string {
  const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
  const rows = routes
    .map((spec) => `<tr><td><code>${spec.method}</code></td><td><code>${escape(spec.url.replace(/:(\w+)/g, "{$1}"))}</code></td><td>${escape(spec.summary)}</td><td>${spec.dialect === "upstream" ? "upstream AOS, X-AOS-Key" : spec.auth ? "API key" : "public"}</td></tr>`)
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
