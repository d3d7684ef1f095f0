/** The API's error envelope body: `{error: {code, message, category, retryable, details}}`. */
export interface ErrorBody {
  code: string;
  message: string;
  category: string;
  retryable: boolean;
  details: Record<string, unknown>;
}

/** Every failure of the client: the HTTP status (0 when no response came) and the envelope's fields. */
export class AosError extends Error {
  readonly code: string;
  readonly category: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(
    readonly status: number,
    body: ErrorBody,
  ) {
    super(body.message);
    this.name = "AosError";
    this.code = body.code;
    this.category = body.category;
    this.retryable = body.retryable;
    this.details = body.details;
  }
}
