import type { FastifyRequest } from "fastify";
import { keyInUpstreamHeader } from "./authenticate.js";
import type { RouteSpec, Routes } from "./route.js";

/**
 * One method and path as the server registers it: our route, and upstream's route for the same method and path when
 * upstream's SDKs call it too (both send `/api/v1/runtime/*` and `/api/v1/runs*`, with other bodies and answers).
 */
export interface ServedPath {
  spec: RouteSpec;
  upstream: RouteSpec | undefined;
}

/**
 * Each of our routes with upstream's route for the same method and path, if any, then upstream's routes on paths
 * that are only theirs. Two routes of one dialect on one path Fastify refuses by itself; a pair must agree on
 * authentication, since the key is checked before the dialect is known.
 */
export function servedPaths(routes: Routes): ServedPath[] {
  const ours = routes.filter((spec) => spec.dialect === undefined);
  const theirs = routes.filter((spec) => spec.dialect === "upstream");
  const same = (a: RouteSpec, b: RouteSpec) => a.method === b.method && a.url === b.url;
  const paired = ours.map((spec) => ({ spec, upstream: theirs.find((candidate) => same(candidate, spec)) }));
  for (const { spec, upstream } of paired) {
    if (upstream !== undefined && upstream.auth !== spec.auth) throw new Error(`${spec.method} ${spec.url}: upstream's route must be authenticated as ours is`);
  }
  const alone = theirs.filter((spec) => !ours.some((candidate) => same(candidate, spec))).map((spec) => ({ spec, upstream: undefined }));
  return [...paired, ...alone];
}

/** The route that serves this request: upstream's on a shared path when the key arrives in upstream's header. */
export function routeFor(served: ServedPath, request: FastifyRequest): RouteSpec {
  return served.upstream !== undefined && keyInUpstreamHeader(request) ? served.upstream : served.spec;
}
