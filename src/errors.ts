import { FAILURE_CATALOG, type FailureCategory, type FailureCode } from "./failure-catalog.js";

export interface AppErrorOptions {
  retryable?: boolean;
  httpStatus?: number;
  cause?: unknown;
  details?: Record<string, unknown>;
}

/**
 * The one error class. Its code comes from the failure catalog, which gives its category and the defaults for
 * `retryable` and `httpStatus`; a caller overrides them only when it knows better (an injected failure that
 * asked to be permanent, say).
 */
export class AppError extends Error {
  readonly code: FailureCode;
  readonly category: FailureCategory;
  readonly retryable: boolean;
  readonly httpStatus: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: FailureCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    const entry = FAILURE_CATALOG[code];
    this.code = code;
    this.category = entry.category;
    this.retryable = options.retryable ?? entry.retryable;
    this.httpStatus = options.httpStatus ?? entry.httpStatus;
    this.details = options.details;
  }

  static retryable(code: FailureCode, message: string, options: AppErrorOptions = {}): AppError {
    return new AppError(code, message, { ...options, retryable: true });
  }

  static nonRetryable(code: FailureCode, message: string, options: AppErrorOptions = {}): AppError {
    return new AppError(code, message, { ...options, retryable: false });
  }
}

/** Converts anything thrown into an AppError, once, at a boundary (executor, CLI, HTTP). */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AppError("INTERNAL", message, { cause: error });
}
