// Every environment variable AOS reads, with its default: src/config.ts reads them by this table, skills quote it
// in their contracts' limits, and README.md's "Configuration" table lists the same variables with the same defaults
// (test/configuration-table.test.ts holds the three together). No imports: anything may quote a default.

/**
 * A variable's default when it is unset or empty: a number, a flag or a text; `undefined` when unset means "not
 * configured" (a secret, an endpoint, an optional opening). PLANNER_MODEL's depends on PLANNER_BACKEND.
 */
export const CONFIG_DEFAULTS = {
  AOS_HOME: "~/.aos",
  DATABASE_URL: undefined,
  AOS_DB_POOL_MAX: 10,
  AOS_DB_CONNECT_RETRY_MS: 30_000,
  AOS_STEP_RETRY_BASE_MS: 500,
  AOS_STEP_RETRY_MAX_MS: 30_000,
  AOS_STEP_TIMEOUT_MS: 600_000,
  HTTP_MAX_RESPONSE_BYTES: 1_048_576,
  HTTP_DEFAULT_TIMEOUT_MS: 30_000,
  HTTP_MAX_REDIRECTS: 5,
  AOS_EGRESS_ALLOW: undefined,
  MAX_PLAN_STEPS: 25,
  PLANNER_BACKEND: "stub",
  PLANNER_MODEL: { anthropic: "claude-sonnet-4-20250514", openai: "gpt-4o" },
  PLANNER_MAX_TOKENS: 2048,
  AOS_SIGNING_KEY: undefined,
  AOS_RETIRED_SIGNING_KEYS: undefined,
  AOS_SIGNING_KEY_NAME: "aos.local",
  AOS_VERIFIER_KEYS: undefined,
  AOS_LEASE_MS: 30_000,
  RUN_MAX_ATTEMPTS: 5,
  AOS_RUN_RETRY_BASE_S: 60,
  AOS_RUN_RETRY_MAX_S: 3600,
  AOS_WORKER_POLL_MS: 1000,
  AOS_WORKER_LISTEN: true,
  AOS_TENANT_CHECKPOINT_EVERY: 256,
  AOS_TENANT_CHECKPOINT_INTERVAL_MS: 5000,
  AOS_WITNESSES: undefined,
  AOS_WITNESS_TIMEOUT_MS: 5000,
  AOS_TSA_URL: undefined,
  AOS_TSA_CERTS: undefined,
  AOS_TSA_TIMEOUT_MS: 10000,
  AOS_API_RATE_PER_MINUTE: 600,
  AOS_API_AUTH_FAILURE_BURST: 20,
  AOS_API_AUTH_FAILURES_PER_MINUTE: 10,
  AOS_API_TRUST_PROXY: false,
  AOS_API_BODY_LIMIT_BYTES: 1_048_576,
  AOS_API_EVENTS_POLL_MS: 250,
  WEBHOOK_SECRET: undefined,
  SLACK_WEBHOOK_URL: undefined,
  POSTGRES_QUERY_URL: undefined,
  PG_QUERY_MAX_ROWS: 1000,
  PG_QUERY_TIMEOUT_MS: 30_000,
  REDIS_URL: undefined,
  SMTP_URL: undefined,
  EMAIL_FROM: undefined,
  RESEND_API_KEY: undefined,
  RESEND_BASE_URL: undefined,
  VOYAGE_API_KEY: undefined,
  VOYAGE_BASE_URL: undefined,
  ANTHROPIC_API_KEY: undefined,
  ANTHROPIC_BASE_URL: undefined,
  OPENAI_API_KEY: undefined,
  OPENAI_BASE_URL: undefined,
  NO_COLOR: undefined,
} as const;

export type ConfigVariable = keyof typeof CONFIG_DEFAULTS;

type Defaults = typeof CONFIG_DEFAULTS;
/** The variables whose default is a number (read with `integer`), and those whose default is true or false. */
export type NumberVariable = { [V in ConfigVariable]: Defaults[V] extends number ? V : never }[ConfigVariable];
export type BooleanVariable = { [V in ConfigVariable]: Defaults[V] extends boolean ? V : never }[ConfigVariable];

/** A numeric setting as a skill's contract states it: `HTTP_MAX_REDIRECTS (default 5)`. */
export function settingWithDefault(name: NumberVariable): string {
  return `${name} (default ${CONFIG_DEFAULTS[name]})`;
}
