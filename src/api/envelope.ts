import { z } from "zod";
import { transientDatabaseCondition } from "../db/transient.js";
import { AppError } from "../errors.js";
import { formatPath, type InputIssue } from "../input-issues.js";

/**
 * The API's one error shape, `{error: {code, message, category, retryable, details}}`, with the HTTP status from
 * the failure catalog. Every error leaves through `errorEnvelope`, so no route shapes its own and no stack trace or
 * internal message ever reaches a client.
 */
export interface ErrorEnvelope {
  error: { code: string; message: string; category: string; retryable: boolean; details: Record<string, unknown> };
}

export const errorEnvelopeSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    category: z.string(),
    retryable: z.boolean(),
    details: z.record(z.string(), z.unknown()),
  }),
});

/** Fastify's own errors (parsing, limits), by the code it gives them. */
const FASTIFY_ERRORS: Record<string, () => AppError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new AppError("PAYLOAD_TOO_LARGE", "the request body is larger than the API accepts"),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new AppError("UNSUPPORTED_MEDIA_TYPE", "the request body must be JSON (Content-Type: application/json)"),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new AppError("VALIDATION_ERROR", "the Content-Length header does not match the body"),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new AppError("VALIDATION_ERROR", "the request says it has a JSON body but the body is empty"),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new AppError("VALIDATION_ERROR", "the request body is not valid JSON"),
};

/**
 * The status and envelope for anything thrown while serving a request. `requestId` goes into the message of an
 * internal error, whose own message stays in the server's log.
 */
export function errorEnvelope(error: unknown, requestId: string): { status: number; body: ErrorEnvelope } {
  const appError = asAppError(error, requestId);
  return {
    status: appError.httpStatus,
    body: {
      error: {
        code: appError.code,
        message: appError.message,
        category: appError.category,
        retryable: appError.retryable,
        details: appError.details ?? {},
      },
    },
  };
}

function asAppError(error: unknown, requestId: string): AppError {
  // The database restarting, a backend terminated, no free connection: not the request's fault, and worth a retry.
  const passing = error instanceof AppError && error.code !== "INTERNAL" ? undefined : transientDatabaseCondition(error);
  if (passing !== undefined) return databaseUnavailable(passing);
  if (error instanceof AppError) {
    return error.code === "INTERNAL" ? internal(requestId) : error;
  }
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  const known = typeof code === "string" ? FASTIFY_ERRORS[code] : undefined;
  if (known !== undefined) return known();
  // Fastify's JSON parser reports a syntax error as a bare 400.
  if (statusCode === 400) return new AppError("VALIDATION_ERROR", "the request body is not valid JSON");
  return internal(requestId);
}

/**
 * A 503 the client may retry after a second. A write it retries may have committed before the connection dropped:
 * creating a run again is safe with the same Idempotency-Key (docs/api.md).
 */
export function databaseUnavailable(condition: string): AppError {
  return new AppError("DATABASE_UNAVAILABLE", `the database was briefly unavailable (${condition}); retry the request`, {
    details: { retry_after_seconds: 1 },
  });
}

function internal(requestId: string): AppError {
  return new AppError("INTERNAL", `internal error; the server's log has it under request ${requestId}`, { details: { request_id: requestId } });
}

/** A 400 for a request that does not match a route's schema, listing every issue with where it is. */
export function validationError(where: "body" | "query" | "path" | "header", issues: readonly z.core.$ZodIssue[]): AppError {
  const listed: InputIssue[] = issues.map((issue) => ({
    code: issue.code,
    path: [where, formatPath(issue.path)].filter((part) => part !== "").join("."),
    message: issue.message,
  }));
  const summary = listed.map((issue) => `${issue.path}: ${issue.message}`).join("; ");
  return new AppError("VALIDATION_ERROR", `invalid request ${where}: ${summary}`, { details: { issues: listed } });
}
