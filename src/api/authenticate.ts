import type { FastifyRequest } from "fastify";
import { tenantScoped } from "../db/tenant-scope.js";
import { AppError } from "../errors.js";
import { type ApiKeyIdentity, authenticateApiKey, hashApiKey, isWellFormedApiKey } from "../services/api-keys.js";
import { AuthFailureLimiter, RecentlyValidKeys } from "./auth-failure-limit.js";
import { TenantRateLimiter } from "./rate-limit.js";
import type { ApiDeps, TenantRequest } from "./route.js";

export interface ApiAuthentication {
  /**
   * The onRequest hook of every authenticated route. It runs before Fastify reads the body, so a request without a
   * valid key is refused whatever it carries, and an address over its failure limit before its key is looked up.
   */
  onRequest(request: FastifyRequest): Promise<void>;
  /** The tenant the hook found for this request. */
  tenantOf(request: FastifyRequest): TenantRequest;
}

/**
 * Authentication of one API instance, in the order that keeps a flood cheap: the client address's failure limit
 * (no database work; waived for a key that authenticated in the last minute), the key (one indexed lookup by
 * hash), then the tenant's request rate.
 */
export function apiAuthentication(deps: ApiDeps): ApiAuthentication {
  const failures = new AuthFailureLimiter({ burst: deps.config.apiAuthFailureBurst, perMinute: deps.config.apiAuthFailuresPerMinute });
  const recentKeys = new RecentlyValidKeys();
  const tenants = new TenantRateLimiter(deps.config.apiRatePerMinute);
  const authenticated = new WeakMap<FastifyRequest, TenantRequest>();

  return {
    async onRequest(request) {
      const presented = presentedKey(request);
      const keyHash = presented !== undefined && isWellFormedApiKey(presented) ? hashApiKey(presented) : undefined;
      // request.ip is the socket's peer unless the operator trusts a proxy (AOS_API_TRUST_PROXY).
      const limited = keyHash === undefined || !recentKeys.has(keyHash);
      if (limited) failures.take(request.ip);
      if (presented === undefined) {
        throw new AppError("UNAUTHENTICATED", "this route needs an API key: send `Authorization: Bearer <key>` or `X-AOS-Key: <key>`");
      }
      let identity: ApiKeyIdentity | undefined;
      try {
        identity = await authenticateApiKey(deps.db, presented);
      } catch (error) {
        // The database failed, not the client: the attempt does not count against its address.
        if (limited) failures.giveBack(request.ip);
        throw error;
      }
      if (identity === undefined) {
        if (keyHash !== undefined) recentKeys.forget(keyHash);
        throw new AppError("UNAUTHENTICATED", "the API key is not valid: unknown, malformed or revoked");
      }
      if (limited) failures.giveBack(request.ip);
      if (keyHash !== undefined) recentKeys.add(keyHash);
      tenants.take(identity.tenantId);
      authenticated.set(request, { tenantId: identity.tenantId, db: tenantScoped(deps.db, identity.tenantId) });
    },
    tenantOf(request) {
      const tenant = authenticated.get(request);
      if (tenant === undefined) throw new AppError("INTERNAL", `route ${request.routeOptions.url ?? request.url} was served without authentication`);
      return tenant;
    },
  };
}

/** The key from `Authorization: Bearer …` or upstream's X-AOS-Key, or undefined when neither holds one. */
function presentedKey(request: FastifyRequest): string | undefined {
  const bearer = bearerOf(request);
  const header = request.headers["x-aos-key"];
  const presented = bearer ?? (typeof header === "string" ? header.trim() : undefined);
  return presented === undefined || presented === "" ? undefined : presented;
}

function bearerOf(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  return typeof authorization === "string" && /^bearer\s+/i.test(authorization) ? authorization.replace(/^bearer\s+/i, "").trim() : undefined;
}

/**
 * Whether the request's key arrives in X-AOS-Key, upstream AOS's header, with no `Authorization: Bearer` beside it:
 * what upstream's SDKs send, and so what selects upstream's dialect where both APIs define a path (dialects.ts).
 */
export function keyInUpstreamHeader(request: FastifyRequest): boolean {
  return bearerOf(request) === undefined && typeof request.headers["x-aos-key"] === "string";
}
