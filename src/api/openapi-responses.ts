import { FAILURE_CATALOG, type FailureCode } from "../failure-catalog.js";
import type { RouteSpec } from "./route.js";

/**
 * The error statuses an operation declares, derived from what the route can raise: the codes its shape implies
 * (below) and the codes it lists in `errors`, each with the status the failure catalog gives it. Every declared
 * status carries the error envelope, narrowed to the codes that status can hold, so the contract test catches a
 * code a route raises without declaring it. 500 INTERNAL stays under `default`: any route can fail that way.
 */
export function errorResponsesOf(spec: RouteSpec): Record<string, unknown> {
  const byStatus = new Map<number, FailureCode[]>();
  for (const code of new Set(impliedCodes(spec).concat(spec.errors ?? []))) {
    const status = FAILURE_CATALOG[code].httpStatus;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, unknown> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      description: codes.join(", "),
      ...headersOf(codes),
      content: { "application/json": { schema: envelopeWith(codes) } },
    };
  }
  responses.default = {
    description: "INTERNAL: an unexpected error, logged under the request id the message names",
    content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
  };
  return responses;
}

/**
 * What any request to the route can meet before its handler runs: a malformed URL, query or body, or headers past
 * Node's limit, or not in time (400, 431, 408, answered for the connection in transport-errors.ts); a key that is missing or not valid,
 * too many failed keys from the client's address, and the tenant's rate (401, 429); the database briefly away
 * (503, with Retry-After: every such route reads it); an id past the router's limit (414); a body too large or not JSON (413, 415).
 */
function impliedCodes(spec: RouteSpec): FailureCode[] {
  const codes: FailureCode[] = ["VALIDATION_ERROR", "REQUEST_TIMEOUT", "HEADERS_TOO_LARGE"];
  if (spec.auth) codes.push("UNAUTHENTICATED", "AUTH_RATE_LIMITED", "TENANT_RATE_LIMITED", "DATABASE_UNAVAILABLE");
  if (spec.url.includes(":")) codes.push("URI_TOO_LONG");
  if (spec.method !== "GET") codes.push("PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE");
  return codes;
}

/** The codes whose envelope carries `details.retry_after_seconds`, sent as Retry-After too (server.ts). */
const RETRY_AFTER: ReadonlySet<FailureCode> = new Set(["AUTH_RATE_LIMITED", "TENANT_RATE_LIMITED", "DATABASE_UNAVAILABLE"]);

function headersOf(codes: readonly FailureCode[]): Record<string, unknown> {
  const sending = codes.filter((code) => RETRY_AFTER.has(code));
  if (sending.length === 0) return {};
  return {
    headers: {
      "Retry-After": {
        description: `Seconds to wait before retrying (${sending.join(", ")})`,
        required: sending.length === codes.length,
        schema: { type: "integer", minimum: 1 },
      },
    },
  };
}

function envelopeWith(codes: readonly FailureCode[]): Record<string, unknown> {
  return {
    allOf: [
      { $ref: "#/components/schemas/Error" },
      {
        type: "object",
        properties: { error: { type: "object", properties: { code: { type: "string", enum: [...codes] } } } },
      },
    ],
  };
}
