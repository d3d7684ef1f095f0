import type { FastifyRequest } from "fastify";

/**
 * The Idempotency-Key header of a run-creating request, for createRun, which checks its length and compares the
 * request it was first used with (the same key within 24 hours returns the same run; with a different request it
 * is refused).
 */
export function idempotencyOf(request: FastifyRequest): { idempotencyKey?: string } {
  const header = request.headers["idempotency-key"];
  const key = Array.isArray(header) ? header[0] : header;
  return key === undefined ? {} : { idempotencyKey: key };
}
