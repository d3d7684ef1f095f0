import { randomUUID } from "node:crypto";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { withTenantReads } from "../db/tenant-scope.js";
import { AppError } from "../errors.js";
import { checkInput } from "../input-text.js";
import { type ApiAuthentication, apiAuthentication } from "./authenticate.js";
import { routeFor, servedPaths } from "./dialects.js";
import { useStrictJsonBodies } from "./json-body.js";
import { errorEnvelope, validationError } from "./envelope.js";
import { docsPage, openApiDocument } from "./openapi.js";
import type { ApiDeps, RouteSpec, Routes, TenantRequest } from "./route.js";
import { agentRoutes } from "./routes/agents.js";
import { eventRoutes } from "./routes/events.js";
import { logRoutes } from "./routes/log.js";
import { proofRoutes } from "./routes/proofs.js";
import { runRoutes } from "./routes/runs.js";
import { runtimeRoutes } from "./routes/runtime.js";
import { systemRoutes } from "./routes/system.js";
import { upstreamRoutes } from "./routes/upstream.js";
import { transportOptions } from "./transport-errors.js";

/** Our routes, then upstream AOS's (routes/upstream.ts), some on the same paths as ours (dialects.ts). */
export const API_ROUTES: Routes = [...systemRoutes, ...agentRoutes, ...runRoutes, ...eventRoutes, ...proofRoutes, ...logRoutes, ...runtimeRoutes, ...upstreamRoutes];

export const API_VERSION = "1.0.0";

/**
 * The HTTP API on Fastify: every route from the table above, validated by its zod schemas, authenticated (before
 * its body is read) by an API key whose tenant scopes the database (Row-Level Security) for the request,
 * rate-limited per tenant and failed authentications per client address, and failing only through the one error
 * envelope. Returns the app unstarted: `listen` it, or `inject` in tests.
 */
export function buildApi(deps: ApiDeps) {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.config.apiBodyLimitBytes,
    genReqId: () => randomUUID(),
    // Only the operations the spec declares: no implicit HEAD twin of every GET.
    exposeHeadRoutes: false,
    trustProxy: typeof deps.config.apiTrustProxy === "boolean" ? deps.config.apiTrustProxy : [...deps.config.apiTrustProxy],
    ...transportOptions(),
  });
  // JSON only: a text/plain body would otherwise reach the schemas as a string.
  app.removeContentTypeParser("text/plain");
  useStrictJsonBodies(app);
  const auth = apiAuthentication(deps);

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = errorEnvelope(error, request.id);
    if (status >= 500) deps.log.warn("request failed", { request_id: request.id, route: request.routeOptions.url, error: (error as Error).message });
    const retryAfter = body.error.details.retry_after_seconds;
    if (typeof retryAfter === "number") void reply.header("retry-after", String(retryAfter));
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = errorEnvelope(new AppError("ROUTE_NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`), request.id);
    void reply.status(status).send(body);
  });
  app.addHook("onResponse", async (request, reply) => {
    deps.metrics.requests.inc({ route: request.routeOptions.url ?? "unmatched", status: String(reply.statusCode) });
  });

  for (const served of servedPaths(API_ROUTES)) {
    const { spec } = served;
    app.route({
      method: spec.method,
      url: spec.url,
      ...(spec.auth ? { onRequest: (request: FastifyRequest) => auth.onRequest(request) } : {}),
      handler: (request, reply) => serve(routeFor(served, request), deps, auth, request, reply),
    });
  }
  app.get("/docs/openapi.json", async () => openApiDocument(API_ROUTES, API_VERSION));
  app.get("/docs", async (_request, reply) => reply.type("text/html; charset=utf-8").send(docsPage(API_ROUTES)));
  return app;
}

async function serve(spec: RouteSpec, deps: ApiDeps, auth: ApiAuthentication, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  // A public route's handler never reads `tenant`; there is none to give it.
  const tenant = spec.auth ? auth.tenantOf(request) : (undefined as unknown as TenantRequest);
  // Text no route can store or walk (a NUL, an unpaired surrogate, nesting past the limit) is refused first, by name.
  checkInput(request.params, "path");
  checkInput(request.query, "query");
  checkInput(request.body, "body");
  const params = parse(spec.params, request.params, "path");
  const query = parse(spec.query, request.query, "query");
  const body = parse(spec.body, request.body, "body");
  const handle = (scoped: TenantRequest) => spec.handler({ params, query, body, tenant: scoped, deps, request, reply });
  const result =
    spec.auth && spec.method === "GET" && spec.oneReadTransaction !== false
      ? await withTenantReads(deps.db, tenant.tenantId, (session) => handle({ tenantId: tenant.tenantId, db: session }))
      : await handle(tenant);
  if (reply.sent) return reply;
  return reply.status(spec.successStatus).send(result);
}

/** Validates one part of the request; a route without a schema for it takes nothing there. */
function parse(schema: RouteSpec["body"], value: unknown, where: "body" | "query" | "path"): unknown {
  if (schema === undefined) {
    const empty = value === undefined || value === null || (typeof value === "object" && Object.keys(value).length === 0);
    if (!empty) throw new AppError("VALIDATION_ERROR", where === "query" ? "this route takes no query parameters" : "this route takes no request body");
    return undefined;
  }
  const parsed = schema.safeParse(value ?? (where === "body" ? undefined : {}));
  if (!parsed.success) throw validationError(where, parsed.error.issues);
  return parsed.data;
}
