import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import type { FailureCode } from "../failure-catalog.js";
import type { Logger } from "../logger.js";
import type { KeyRing } from "../trace/key-store.js";
import type { ApiMetrics } from "./metrics.js";

/** What the API's handlers share: the database (the owner connection), configuration, the keys, metrics. */
export interface ApiDeps {
  db: Database;
  config: Config;
  log: Logger;
  /** Signs checkpoints and attests rows and approvals; the private key never leaves this process. */
  keys: KeyRing;
  metrics: ApiMetrics;
}

/** What a handler of an authenticated route gets: the tenant from the API key, and the database scoped to it. */
export interface TenantRequest {
  tenantId: string;
  /** Every statement runs under Row-Level Security for the tenant: a forgotten filter still sees only its rows. */
  db: Database;
}

export interface HandlerInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Present on authenticated routes. */
  tenant: TenantRequest;
  deps: ApiDeps;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * One route of the API, declared once: the schemas validate the request and document it in the OpenAPI spec,
 * so the spec cannot drift from what the server accepts. A handler returns the body of the success status;
 * anything it throws becomes the error envelope.
 */
export interface RouteSpec<P = unknown, Q = unknown, B = unknown> {
  method: "GET" | "POST" | "PATCH";
  /** Fastify style, e.g. /api/v1/runs/:run_id. */
  url: string;
  summary: string;
  /** Longer prose for the spec, where the summary cannot say what the body holds (the events a stream sends). */
  description?: string;
  tag: string;
  /** False for the few public routes (health, metrics, docs, verification keys). */
  auth: boolean;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  successStatus: number;
  /**
   * The success body's schema, for the spec: it names every field the handler sends (the contract test holds the
   * responses to it). Omitted only where the body is not JSON (`produces`: events, a tlog-proof, metrics).
   */
  response?: z.ZodType;
  /** The success body's media type when it is not JSON. */
  produces?: string;
  /**
   * A GET's statements share one read-only transaction (tenant scoping paid once) unless this is false: the
   * event stream, which lives for a run's whole length, scopes each statement on its own instead.
   */
  oneReadTransaction?: boolean;
  /**
   * "upstream" on the routes that speak upstream AOS's dialect (routes/upstream.ts). Where a route of our own has
   * the same method and path, this one serves only the requests whose key arrives in X-AOS-Key (dialects.ts).
   */
  dialect?: "upstream";
  /** Request headers the handler reads (besides the API key), documented in the spec; the handler checks them. */
  headers?: Readonly<Record<string, z.ZodType>>;
  /**
   * The failure codes the handler and the services it calls can raise, beyond those the route's shape implies
   * (authentication, validation, body limits: openapi-responses.ts). The spec declares each one's status.
   */
  errors?: readonly FailureCode[];
  handler(input: HandlerInput<P, Q, B>): Promise<unknown>;
}

/** Keeps each route's types while collecting routes of different types in one list. */
export function route<P, Q, B>(spec: RouteSpec<P, Q, B>): RouteSpec<unknown, unknown, unknown> {
  return spec as unknown as RouteSpec<unknown, unknown, unknown>;
}

/** Shared by every route table. */
export type Routes = readonly RouteSpec<unknown, unknown, unknown>[];
