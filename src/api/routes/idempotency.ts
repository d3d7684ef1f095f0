import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { AppError } from "../../errors.js";
import { canonicalJson } from "../../trace/canonical-json.js";

/**
 * The Idempotency-Key of a run-creating request, with the hash of what was asked, for createRun: the same key
 * within 24 hours returns the same run, and the same key with a different request is refused.
 */
export function idempotencyOf(request: FastifyRequest, asked: unknown): { idempotencyKey?: string; requestHash?: string } {
  const header = request.headers["idempotency-key"];
  if (header === undefined) return {};
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined || key.length === 0 || key.length > 255) {
    throw new AppError("VALIDATION_ERROR", "the Idempotency-Key header must be 1 to 255 characters", { details: { header: "Idempotency-Key" } });
  }
  return { idempotencyKey: key, requestHash: createHash("sha256").update(canonicalJson(asked)).digest("hex") };
}
