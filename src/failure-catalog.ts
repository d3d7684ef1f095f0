// The failure catalog: every error code the platform raises, with its category and whether retrying can help.
// Retries, exit codes, incident severity, simulate's risks and the API's error envelope are driven from here;
// nothing matches message text. Suggestions reach HTTP callers (a skill's contract, simulate's risks), so they name no
// command's flags; the CLI words its own hints (src/cli/error-wording.ts).

export type FailureCategory =
  | "TRANSIENT"
  | "PERMANENT"
  | "RESOURCE"
  | "PERMISSION"
  | "VALIDATION"
  | "INFRASTRUCTURE"
  | "SECURITY"
  | "SKILL";

/** What to do about a failure (upstream §4.3's recovery modes, the ones this platform acts on). */
export type RecoveryMode = "RETRY_EXPONENTIAL" | "ABORT" | "ESCALATE" | "MANUAL_INTERVENTION";

export type Severity = "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";

export interface FailureEntry {
  category: FailureCategory;
  retryable: boolean;
  httpStatus: number;
  suggestion: string;
  /** Overrides the recovery mode the category and retryability imply. */
  recovery?: RecoveryMode;
}

/** A catalog entry with everything derived: what skill contracts and simulate show, in the CLI and the API alike. */
export interface FailureDescription {
  code: FailureCode;
  category: FailureCategory;
  retryable: boolean;
  httpStatus: number;
  suggestion: string;
  recovery: RecoveryMode;
  severity: Severity;
}

export const FAILURE_CATALOG = {
  USAGE: { category: "VALIDATION", retryable: false, httpStatus: 400, suggestion: "Correct the input the message names." },
  // Its messages say what to change themselves; an empty suggestion prints no hint.
  VALIDATION_ERROR: { category: "VALIDATION", retryable: false, httpStatus: 400, suggestion: "" },
  TENANT_REQUIRED: { category: "VALIDATION", retryable: false, httpStatus: 400, suggestion: "Name the tenant (tenant_id)." },
  AGENT_NOT_FOUND: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 404,
    suggestion: "List the tenant's agents to find the agent's id or name.",
  },
  AGENT_NAME_TAKEN: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 409,
    suggestion: "An agent's name is unique within its tenant: choose another name, or use the agent that has it.",
  },
  TENANT_NOT_FOUND: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 404,
    suggestion: "Check the tenant's spelling; a tenant comes into being with its first run, agent, API key or policy.",
  },
  RUN_NOT_FOUND: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 404,
    suggestion: "List the tenant's runs to find the run's id.",
  },
  SKILL_NOT_FOUND: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 404,
    suggestion: "List the registered skills to find its name.",
  },
  PLAN_INVALID: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 422,
    suggestion: "Fix the plan's steps; each skill's contract gives its parameters.",
  },
  PLAN_FILE_INVALID: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 400,
    suggestion: 'A plan file is JSON shaped {"steps":[{"step_id","skill","params",...}]}.',
  },
  DATABASE_UNAVAILABLE: {
    category: "INFRASTRUCTURE",
    retryable: true,
    httpStatus: 503,
    suggestion: "Check that the database the message names is running and accepts connections (DATABASE_URL for AOS's own).",
  },
  DATABASE_LOCKED: {
    category: "RESOURCE",
    retryable: true,
    httpStatus: 503,
    suggestion: "Stop the other aos process, or give this one its own AOS_HOME.",
  },
  LEASE_LOST: {
    category: "INFRASTRUCTURE",
    retryable: false,
    httpStatus: 409,
    suggestion: "Another worker owns the run now; nothing to do.",
  },
  TRACE_TAMPERED: {
    category: "SECURITY",
    retryable: false,
    httpStatus: 409,
    suggestion: "The run's stored trace fails its integrity check; nothing was signed. Investigate who changed the database (docs/proofs.md).",
    recovery: "MANUAL_INTERVENTION",
  },
  RUN_NOT_CLAIMABLE: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 409,
    suggestion: "Only queued runs, and retry runs whose time has come, can be claimed.",
  },
  RUN_ALREADY_ENDED: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 409,
    suggestion: "A run that has ended cannot be approved, rejected or cancelled; read the run to see how it ended.",
  },
  RUN_NOT_PENDING_APPROVAL: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 409,
    suggestion: "Only a run waiting at a step for approval (status pending_approval) can be approved or rejected.",
  },
  AGENT_NOT_ACTIVE: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 409,
    suggestion: "Its runs stay queued until the agent is active again; no worker claims them before.",
  },
  CONFLICT: { category: "TRANSIENT", retryable: true, httpStatus: 409, suggestion: "Run the command again." },
  POLICY_VIOLATION: {
    category: "PERMISSION",
    retryable: false,
    httpStatus: 403,
    suggestion: "The tenant's or the agent's policy refused it; an operator shows it with `aos policy show` and changes it with `aos policy set`.",
  },
  ENFORCEMENT_SKIPPED: {
    category: "SECURITY",
    retryable: false,
    httpStatus: 500,
    suggestion: "The policy engine failed, so the step was denied (fail closed); report it with the worker's log.",
  },
  BUDGET_EXCEEDED: {
    category: "RESOURCE",
    retryable: false,
    httpStatus: 402,
    suggestion: "Raise the agent's budget, or run cheaper steps.",
  },
  APPROVAL_REQUIRED: {
    recovery: "MANUAL_INTERVENTION",
    category: "PERMISSION",
    retryable: false,
    httpStatus: 409,
    suggestion: "Approve or reject the step the run waits at, naming who decides.",
  },
  HTTP_4XX: { category: "PERMANENT", retryable: false, httpStatus: 502, suggestion: "Fix the request." },
  HTTP_5XX: { category: "TRANSIENT", retryable: true, httpStatus: 502, suggestion: "Retry later." },
  TIMEOUT: { category: "TRANSIENT", retryable: true, httpStatus: 504, suggestion: "Raise the timeout or retry." },
  NETWORK_ERROR: {
    category: "TRANSIENT",
    retryable: true,
    httpStatus: 502,
    suggestion: "Check the host is reachable from this machine.",
  },
  // Two codes, because retrying helps only one: a resolver that failed or timed out (EAI_AGAIN) may answer on the
  // next attempt, a name the DNS says does not exist (NXDOMAIN: ENOTFOUND, ENODATA) will not.
  DNS_ERROR: {
    category: "TRANSIENT",
    retryable: true,
    httpStatus: 502,
    suggestion: "The resolver failed or timed out; if it persists, check this machine's DNS.",
  },
  HOST_NOT_FOUND: {
    category: "PERMANENT",
    retryable: false,
    httpStatus: 502,
    suggestion: "The host name does not exist (or has no address); check its spelling.",
  },
  FORBIDDEN_TARGET: {
    category: "SECURITY",
    retryable: false,
    httpStatus: 403,
    suggestion: "Private, loopback, link-local and metadata addresses are blocked unless the agent's allow-list names the host.",
  },
  RESPONSE_TOO_LARGE: {
    category: "RESOURCE",
    retryable: false,
    httpStatus: 502,
    suggestion: "Ask for less data; the response body cap is HTTP_MAX_RESPONSE_BYTES.",
  },
  TOO_MANY_REDIRECTS: { category: "PERMANENT", retryable: false, httpStatus: 502, suggestion: "Fix the URL." },
  TIMESTAMP_REFUSED: {
    category: "PERMANENT",
    retryable: false,
    httpStatus: 502,
    suggestion: "Check the timestamp authority's URL and its status; the message says what its reply refused or lacked.",
  },
  TRANSFORM_PATH_MISSING: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 422,
    suggestion: "Give the path a default in `defaults`, or fix the mapping.",
  },
  TRANSFORM_QUERY_FAILED: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 422,
    suggestion: "Fix the JSONata query or the payload it reads; the message carries JSONata's error.",
  },
  CANCELLED: {
    category: "PERMANENT",
    retryable: false,
    httpStatus: 409,
    suggestion: "The step was stopped by its run's cancellation or a stopping worker; the runner decides what follows.",
  },
  INTERRUPTED: {
    category: "TRANSIENT",
    retryable: true,
    httpStatus: 503,
    suggestion: "The worker stopped mid-call, which may have happened; a run that goes on tries the step again with the same idempotency key.",
  },
  RUN_ABANDONED: {
    category: "INFRASTRUCTURE",
    retryable: false,
    httpStatus: 500,
    suggestion: "Workers kept losing this run (crashes or database outages); check the workers' logs, then re-run it.",
  },
  CREDENTIALS_MISSING: {
    category: "PERMISSION",
    retryable: false,
    httpStatus: 424,
    suggestion: "Set the variable the message names in the worker's environment, then re-run.",
  },
  QUERY_REFUSED: {
    category: "SECURITY",
    retryable: false,
    httpStatus: 422,
    suggestion: "postgres_query runs reads only: no DDL, DCL or writes, one statement, parameters bound.",
  },
  QUERY_ERROR: {
    category: "PERMANENT",
    retryable: false,
    httpStatus: 422,
    suggestion: "Fix the query; the message carries the database's error.",
  },
  INJECTED_FAILURE: {
    category: "TRANSIENT",
    retryable: true,
    httpStatus: 500,
    suggestion: "This failure was asked for by the test skill.",
  },
  SKILL_ERROR: {
    category: "SKILL",
    retryable: false,
    httpStatus: 500,
    suggestion: "Read the step's recorded error details in the run's steps.",
  },
  INTERNAL: {
    category: "INFRASTRUCTURE",
    retryable: false,
    httpStatus: 500,
    suggestion: "Report it with the log of the process that raised it.",
  },
  CREDENTIALS_REJECTED: {
    category: "PERMISSION",
    retryable: false,
    httpStatus: 424,
    suggestion: "The service refused the configured credentials; fix the variable the message names, then re-run.",
  },
  EMAIL_REJECTED: {
    category: "PERMANENT",
    retryable: false,
    httpStatus: 502,
    suggestion: "The mail relay refused the message for good (a 5xx reply); fix the sender or recipients it names.",
  },
  EMAIL_DEFERRED: {
    category: "TRANSIENT",
    retryable: true,
    httpStatus: 503,
    suggestion: "The mail relay asked to try later (a 4xx reply); the step is retried with the same Message-ID.",
  },
  LLM_RATE_LIMITED: {
    category: "RESOURCE",
    retryable: true,
    httpStatus: 429,
    suggestion: "The model provider is rate-limiting the key; the step is retried with backoff. Lower the call rate or raise the provider's limit.",
  },
  LLM_PROVIDER_ERROR: {
    category: "TRANSIENT",
    retryable: true,
    httpStatus: 502,
    suggestion: "The model provider failed (a 5xx, overload or conflict); the step is retried. Check the provider's status page if it persists.",
  },
  LLM_REQUEST_REJECTED: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 422,
    suggestion: "The model provider refused the request as invalid (unknown model, too long, bad parameter); fix the step's params.",
  },
  KV_NOT_INTEGER: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 409,
    suggestion: "kv_store incr and decr work on integer values within ±(2^53 − 1); set the key to an integer first, or use another key.",
  },
  IDEMPOTENCY_KEY_REUSED: {
    category: "PERMANENT",
    retryable: false,
    httpStatus: 409,
    suggestion: "A step's idempotency key was already used for a different write; report it, with the run id.",
  },
  ROUTE_NOT_FOUND: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 404,
    suggestion: "The API's routes are listed at /docs (OpenAPI at /docs/openapi.json).",
  },
  PAYLOAD_TOO_LARGE: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 413,
    suggestion: "Send a smaller body; the limit is AOS_API_BODY_LIMIT_BYTES.",
  },
  UNSUPPORTED_MEDIA_TYPE: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 415,
    suggestion: "Send the body as JSON with Content-Type: application/json.",
  },
  UNAUTHENTICATED: {
    category: "PERMISSION",
    retryable: false,
    httpStatus: 401,
    suggestion: "Send an API key as `Authorization: Bearer <key>` (or X-AOS-Key); an operator creates one with `aos api-keys create`.",
  },
  TENANT_RATE_LIMITED: {
    category: "RESOURCE",
    retryable: true,
    httpStatus: 429,
    suggestion: "Wait for the time in the Retry-After header; the limit per tenant is AOS_API_RATE_PER_MINUTE.",
  },
  AUTH_RATE_LIMITED: {
    category: "RESOURCE",
    retryable: true,
    httpStatus: 429,
    suggestion:
      "Wait for the time in the Retry-After header, and check the API key: this address failed to authenticate more than AOS_API_AUTH_FAILURE_BURST times (then AOS_API_AUTH_FAILURES_PER_MINUTE a minute).",
  },
  API_KEY_NOT_FOUND: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 404,
    suggestion: "List the tenant's API keys (`aos api-keys list`) to find the key's id.",
  },
  STEP_NOT_FOUND: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 404,
    suggestion: "A run's leaves are seq 0 to its step count (the last is its run-end); the run's steps list them.",
  },
  CHECKPOINT_NOT_FOUND: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 404,
    suggestion: "The tenant's log has no signed checkpoint yet: it gets one within seconds of its first finished run.",
  },
  TILE_NOT_FOUND: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 404,
    suggestion: "Read the log's checkpoint first, and only the tiles its tree size has (docs/tiles.md); a tile past it is not served.",
  },
  TILE_INVALID: {
    category: "SECURITY",
    retryable: false,
    httpStatus: 409,
    suggestion: "A tile or entry bundle is not what the log's signed checkpoint commits to: the copy it was read from was changed. Keep it as evidence and fetch the tiles again from the log.",
    recovery: "MANUAL_INTERVENTION",
  },
  URI_TOO_LONG: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 414,
    suggestion: "An id is at most 200 characters; check the URL.",
  },
  REQUEST_TIMEOUT: {
    category: "TRANSIENT",
    retryable: true,
    httpStatus: 408,
    suggestion: "Send the request's headers within a minute.",
  },
  HEADERS_TOO_LARGE: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 431,
    suggestion: "Send smaller headers (the server reads at most 16 KiB of them).",
  },
  IDEMPOTENCY_KEY_MISMATCH: {
    category: "VALIDATION",
    retryable: false,
    httpStatus: 422,
    suggestion: "An Idempotency-Key names one request for 24 hours; send a new key for a different request.",
  },
  WITNESS_STATE_LOCKED: {
    category: "RESOURCE",
    retryable: false,
    httpStatus: 503,
    suggestion: "Stop the other witness using the state directory, or give this one its own (docs/witness.md).",
  },
  WITNESS_STATE_INVALID: {
    category: "INFRASTRUCTURE",
    retryable: false,
    httpStatus: 500,
    suggestion: "A witness state file does not read back; restore it from a backup rather than delete it, since a witness that forgets a checkpoint can be led to cosign a fork (docs/witness.md).",
    recovery: "MANUAL_INTERVENTION",
  },
} as const satisfies Record<string, FailureEntry>;

export type FailureCode = keyof typeof FAILURE_CATALOG;

export function isFailureCode(code: string): code is FailureCode {
  return Object.hasOwn(FAILURE_CATALOG, code);
}

/**
 * By category: a failure nobody can retry away is escalated when it needs someone's permission or resources,
 * aborted otherwise; security failures are the gravest. A failed step's incident takes its code's severity.
 */
const CATEGORY_DEFAULTS: Record<FailureCategory, { recovery: RecoveryMode; severity: Severity }> = {
  TRANSIENT: { recovery: "ABORT", severity: "HIGH" },
  PERMANENT: { recovery: "ABORT", severity: "HIGH" },
  RESOURCE: { recovery: "ESCALATE", severity: "MEDIUM" },
  PERMISSION: { recovery: "ESCALATE", severity: "HIGH" },
  VALIDATION: { recovery: "ABORT", severity: "MEDIUM" },
  INFRASTRUCTURE: { recovery: "ABORT", severity: "HIGH" },
  SECURITY: { recovery: "ABORT", severity: "CRITICAL" },
  SKILL: { recovery: "ABORT", severity: "HIGH" },
};

export function describeFailure(code: FailureCode): FailureDescription {
  const entry: FailureEntry = FAILURE_CATALOG[code];
  const defaults = CATEGORY_DEFAULTS[entry.category];
  const recovery = entry.recovery ?? (entry.retryable ? "RETRY_EXPONENTIAL" : defaults.recovery);
  return {
    code,
    category: entry.category,
    retryable: entry.retryable,
    httpStatus: entry.httpStatus,
    suggestion: entry.suggestion,
    recovery,
    severity: defaults.severity,
  };
}
