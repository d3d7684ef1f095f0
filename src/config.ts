import { isIP } from "node:net";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import ipaddr from "ipaddr.js";
import { type BooleanVariable, CONFIG_DEFAULTS, type ConfigVariable, type NumberVariable } from "./defaults.js";
import { AppError } from "./errors.js";
import { type EgressOpening, parseEgressOpenings } from "./egress.js";
import { PRICE_TABLE_VERSION, priceOf, pricedModels } from "./price-table.js";

/**
 * Everything AOS reads from the environment, read once, validated and frozen. Nothing else reads process.env.
 * Every variable is read by its name in src/defaults.ts, which holds its default; README.md's "Configuration" table
 * lists the same variables with the same defaults (test/configuration-table.test.ts).
 */
export interface Config {
  /** Where the embedded database, its lock file and the signing keys (`keys/`) live. */
  readonly home: string;
  /** A PostgreSQL server; when unset, the embedded PGlite database in `home` is used. */
  readonly databaseUrl: string | undefined;
  readonly dbPoolMax: number;
  /**
   * How long start-up keeps trying a server that answers but cannot take a connection yet (too many connections,
   * starting up or shutting down), with a jittered backoff; 0 tries once (AOS_DB_CONNECT_RETRY_MS).
   */
  readonly databaseConnectRetryMs: number;
  /** Step retry backoff: min(base · 2^(n-1), max) milliseconds. */
  readonly stepRetryBaseMs: number;
  /**
   * The most one attempt of a step may take. Its skill's signal is aborted then, and an attempt still running is
   * recorded TIMEOUT (retryable), so a hung skill cannot hold a run forever while its lease keeps being renewed.
   */
  readonly stepTimeoutMs: number;
  readonly stepRetryMaxMs: number;
  readonly httpMaxResponseBytes: number;
  readonly httpDefaultTimeoutMs: number;
  readonly httpMaxRedirects: number;
  /**
   * The operator's openings in the egress floor (AOS_EGRESS_ALLOW): hosts and address ranges skills may reach although
   * they are loopback, private, link-local or otherwise non-public. Nothing a tenant sends can add to them.
   */
  readonly egressOpenings: readonly EgressOpening[];
  readonly maxPlanSteps: number;
  /** Who plans a goal given without a plan: the deterministic stub, or a model (docs/planner.md). */
  readonly plannerBackend: PlannerBackend;
  /** The planner's model; a priced one (checked here), undefined for the stub. */
  readonly plannerModel: string | undefined;
  /** The most output tokens one planning request may produce. */
  readonly plannerMaxTokens: number;
  /**
   * The checkpoint signing key as C2SP private-key text (PRIVATE+KEY+name+id+…); a secret. When unset, a key is
   * created on first use under `<home>/keys`. Never logged, stored in the database or written to a bundle.
   */
  readonly signingKey: string | undefined;
  /** The name new signing keys get; it is also the prefix of every checkpoint's origin. */
  readonly signingKeyName: string;
  /** Extra verification keys (C2SP vkey text) trusted besides the key store's, e.g. retired keys of another host. */
  readonly verifierKeys: readonly string[];
  /**
   * Earlier AOS_SIGNING_KEY values (private-key text; secrets), so runs attested under them before a rotation can
   * still be resumed: only their attestation keys are derived from them, nothing is signed with them.
   */
  readonly retiredSigningKeys: readonly string[];
  /** NO_COLOR (https://no-color.org): plain output even on a terminal. */
  readonly noColor: boolean;
  /** How long a claim holds a run without a heartbeat; a worker renews it every third of this. */
  readonly leaseMs: number;
  /** A tenant checkpoint is signed once its log grew by this many runs, or ... */
  readonly tenantCheckpointEvery: number;
  /** ... once this long passed since the last one, if the log grew at all. */
  readonly tenantCheckpointIntervalMs: number;
  /** Witnesses each new tenant checkpoint is submitted to: their submission URL and verifier key (AOS_WITNESSES). */
  readonly witnesses: readonly { url: string; verifierKey: string }[];
  readonly witnessTimeoutMs: number;
  /** An RFC 3161 TSA each tenant checkpoint is timestamped by (AOS_TSA_URL), optional. */
  readonly tsaUrl: string | undefined;
  /** PEM files of the TSA certificates (or their CAs) tokens are checked against (AOS_TSA_CERTS). */
  readonly tsaCertificateFiles: readonly string[];
  readonly tsaTimeoutMs: number;
  /** Claims of one run before the reaper or a failing worker gives up on it (RUN_MAX_ATTEMPTS). */
  readonly runMaxAttempts: number;
  /** Run-level retry after a system failure: min(base · 2^(attempts-1), max) seconds. */
  readonly runRetryBaseSeconds: number;
  readonly runRetryMaxSeconds: number;
  /** How often an idle worker polls the queue when no notification wakes it. */
  readonly workerPollMs: number;
  /** The HTTP API: the largest request body accepted, and requests per minute per tenant. */
  readonly apiBodyLimitBytes: number;
  readonly apiRatePerMinute: number;
  /**
   * Failed authentications per client address, per API process: `burst` at once, then `perMinute`. An address past
   * them is refused (429) before its key is looked up, until it has earned a failure back.
   */
  readonly apiAuthFailureBurst: number;
  readonly apiAuthFailuresPerMinute: number;
  /**
   * Whom the API believes about the client address (X-Forwarded-For): nobody (false, the default: the socket's
   * peer is the client), every hop (true), or the proxies at these addresses and CIDR ranges.
   */
  readonly apiTrustProxy: boolean | readonly string[];
  /** How often GET /runs/{id}/events looks for new steps. */
  readonly apiEventsPollMs: number;
  /** Whether workers LISTEN for queued runs; turn off behind PgBouncer in transaction mode (polling only). */
  readonly workerListen: boolean;
  /** webhook_send's HMAC-SHA256 signing secret (a secret: never logged or recorded). */
  readonly webhookSecret: string | undefined;
  /** slack_send's incoming-webhook URL (a secret: it carries the token). */
  readonly slackWebhookUrl: string | undefined;
  /** The database postgres_query may read; never AOS's own (a secret when it holds a password). */
  readonly postgresQueryUrl: string | undefined;
  /** postgres_query's row cap and statement timeout. */
  readonly postgresQueryMaxRows: number;
  readonly postgresQueryTimeoutMs: number;
  /** Model providers' keys (secrets) and, for tests and proxies, their base URLs. */
  readonly anthropicApiKey: string | undefined;
  readonly anthropicBaseUrl: string | undefined;
  readonly openaiApiKey: string | undefined;
  readonly openaiBaseUrl: string | undefined;
  /** kv_store keeps its data in Redis when set, in PostgreSQL otherwise. */
  readonly redisUrl: string | undefined;
  /** email_send: an SMTP server URL (smtp://user:pass@host:port), or the Resend API when its key is set. */
  readonly smtpUrl: string | undefined;
  readonly emailFrom: string | undefined;
  readonly resendApiKey: string | undefined;
  readonly resendBaseUrl: string | undefined;
  /** voyage_embed's key and base URL. */
  readonly voyageApiKey: string | undefined;
  readonly voyageBaseUrl: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

export type PlannerBackend = "stub" | "anthropic" | "openai";

const PLANNER_BACKENDS: readonly PlannerBackend[] = ["stub", "anthropic", "openai"];

/** The variable as set, untrimmed; undefined when unset or empty. Every read goes through here, by a listed name. */
function raw(env: Env, name: ConfigVariable): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

function integer(env: Env, name: NumberVariable, min: number): number {
  const text = raw(env, name);
  if (text === undefined) return CONFIG_DEFAULTS[name];
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new AppError("USAGE", `${name} must be a whole number >= ${min}, got "${text}"`);
  }
  return value;
}

function optional(env: Env, name: ConfigVariable): string | undefined {
  const text = raw(env, name)?.trim();
  return text === undefined || text === "" ? undefined : text;
}

/**
 * AOS_WITNESSES: comma-separated `<submission URL> <verifier key>` pairs. The URL is checked here; the key's text is
 * parsed where witnesses are used (src/tenant-log/witnesses.ts), which refuses a malformed one at start.
 */
function witnesses(env: Env): { url: string; verifierKey: string }[] {
  return (raw(env, "AOS_WITNESSES") ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      const parts = entry.split(/\s+/);
      const [url, verifierKey] = parts as [string, string];
      let scheme = "";
      try {
        scheme = new URL(url).protocol;
      } catch {
        // reported below
      }
      if (parts.length !== 2 || (scheme !== "http:" && scheme !== "https:")) {
        throw new AppError("USAGE", `AOS_WITNESSES entry "${entry}" is not "<http(s) URL> <witness verifier key>"; separate entries with commas`);
      }
      return { url, verifierKey };
    });
}

/** Comma- or space-separated values (keys), none when unset. */
function list(env: Env, name: ConfigVariable): string[] {
  return (raw(env, name) ?? "").split(/[\s,]+/).filter((value) => value !== "");
}

function boolean(env: Env, name: BooleanVariable): boolean {
  const text = raw(env, name);
  if (text === undefined) return CONFIG_DEFAULTS[name];
  if (["1", "true", "yes", "on"].includes(text.toLowerCase())) return true;
  if (["0", "false", "no", "off"].includes(text.toLowerCase())) return false;
  throw new AppError("USAGE", `${name} must be true or false, got "${text}"`);
}

function home(env: Env): string {
  return resolve(raw(env, "AOS_HOME") ?? join(homedir(), CONFIG_DEFAULTS.AOS_HOME.replace(/^~\//, "")));
}

function trustProxy(env: Env): boolean | string[] {
  const text = optional(env, "AOS_API_TRUST_PROXY");
  if (text === undefined) return CONFIG_DEFAULTS.AOS_API_TRUST_PROXY;
  if (["1", "true", "yes", "on", "0", "false", "no", "off"].includes(text.toLowerCase())) return boolean(env, "AOS_API_TRUST_PROXY");
  const entries = text.split(",").map((entry) => entry.trim());
  const bad = entries.find((entry) => !(isIP(entry) !== 0 || isCidr(entry)));
  if (bad !== undefined) {
    throw new AppError("USAGE", `AOS_API_TRUST_PROXY: "${bad}" is not an address or a CIDR range; give true, false, or your proxies' addresses separated by commas, such as 10.0.0.5,10.1.0.0/16`);
  }
  return entries;
}

function isCidr(entry: string): boolean {
  const [address = "", bits = ""] = entry.split("/");
  if (isIP(address) === 0 || !/^\d{1,3}$/.test(bits)) return false;
  try {
    ipaddr.parseCIDR(entry);
    return true;
  } catch {
    return false;
  }
}

function egressOpenings(env: Env): EgressOpening[] {
  const parsed = parseEgressOpenings(raw(env, "AOS_EGRESS_ALLOW") ?? "");
  if (parsed.ok) return parsed.openings;
  throw new AppError("USAGE", `AOS_EGRESS_ALLOW: "${parsed.entry}": ${parsed.reason}; give hosts, addresses or CIDR ranges separated by commas, such as 127.0.0.1,10.0.0.0/8,internal.example:8443`);
}

function plannerBackend(env: Env): PlannerBackend {
  const text = optional(env, "PLANNER_BACKEND") ?? CONFIG_DEFAULTS.PLANNER_BACKEND;
  if (!(PLANNER_BACKENDS as readonly string[]).includes(text)) {
    throw new AppError("USAGE", `PLANNER_BACKEND must be one of ${PLANNER_BACKENDS.join(", ")}, got "${text}"`);
  }
  return text as PlannerBackend;
}

/**
 * The planner's model must have a price, so every planning call is charged from the table; refused here, at start,
 * rather than at the first run. A model named for the stub is refused too: it would silently plan without one.
 */
function plannerModel(env: Env, backend: PlannerBackend): string | undefined {
  const text = optional(env, "PLANNER_MODEL");
  if (backend === "stub") {
    if (text !== undefined) throw new AppError("USAGE", "PLANNER_MODEL is set but PLANNER_BACKEND is stub; set PLANNER_BACKEND=anthropic or openai, or unset PLANNER_MODEL");
    return undefined;
  }
  const model = text ?? CONFIG_DEFAULTS.PLANNER_MODEL[backend];
  if (priceOf(backend, model) === undefined) {
    throw new AppError(
      "USAGE",
      `PLANNER_MODEL "${model}" has no price for ${backend} (price table ${PRICE_TABLE_VERSION}); priced models: ${pricedModels(backend).join(", ")}`,
    );
  }
  return model;
}

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = raw(env, "DATABASE_URL");
  const postgresQueryUrl = optional(env, "POSTGRES_QUERY_URL");
  if (postgresQueryUrl !== undefined && postgresQueryUrl === databaseUrl) {
    // A plan could otherwise read every tenant's runs, traces and records.
    throw new AppError("USAGE", "POSTGRES_QUERY_URL must not be AOS's own database (DATABASE_URL); point it at the database agents may read");
  }
  const backend = plannerBackend(env);
  return Object.freeze({
    home: home(env),
    databaseUrl,
    dbPoolMax: integer(env, "AOS_DB_POOL_MAX", 1),
    databaseConnectRetryMs: integer(env, "AOS_DB_CONNECT_RETRY_MS", 0),
    stepRetryBaseMs: integer(env, "AOS_STEP_RETRY_BASE_MS", 0),
    stepTimeoutMs: integer(env, "AOS_STEP_TIMEOUT_MS", 10),
    stepRetryMaxMs: integer(env, "AOS_STEP_RETRY_MAX_MS", 0),
    httpMaxResponseBytes: integer(env, "HTTP_MAX_RESPONSE_BYTES", 1),
    httpDefaultTimeoutMs: integer(env, "HTTP_DEFAULT_TIMEOUT_MS", 1),
    httpMaxRedirects: integer(env, "HTTP_MAX_REDIRECTS", 0),
    egressOpenings: egressOpenings(env),
    maxPlanSteps: integer(env, "MAX_PLAN_STEPS", 1),
    plannerBackend: backend,
    plannerModel: plannerModel(env, backend),
    plannerMaxTokens: integer(env, "PLANNER_MAX_TOKENS", 1),
    signingKey: raw(env, "AOS_SIGNING_KEY")?.trim(),
    signingKeyName: raw(env, "AOS_SIGNING_KEY_NAME") ?? CONFIG_DEFAULTS.AOS_SIGNING_KEY_NAME,
    verifierKeys: list(env, "AOS_VERIFIER_KEYS"),
    retiredSigningKeys: list(env, "AOS_RETIRED_SIGNING_KEYS"),
    noColor: raw(env, "NO_COLOR") !== undefined,
    leaseMs: integer(env, "AOS_LEASE_MS", 100),
    tenantCheckpointEvery: integer(env, "AOS_TENANT_CHECKPOINT_EVERY", 1),
    tenantCheckpointIntervalMs: integer(env, "AOS_TENANT_CHECKPOINT_INTERVAL_MS", 0),
    witnesses: witnesses(env),
    witnessTimeoutMs: integer(env, "AOS_WITNESS_TIMEOUT_MS", 1),
    tsaUrl: optional(env, "AOS_TSA_URL"),
    tsaCertificateFiles: list(env, "AOS_TSA_CERTS"),
    tsaTimeoutMs: integer(env, "AOS_TSA_TIMEOUT_MS", 1),
    runMaxAttempts: integer(env, "RUN_MAX_ATTEMPTS", 1),
    runRetryBaseSeconds: integer(env, "AOS_RUN_RETRY_BASE_S", 0),
    runRetryMaxSeconds: integer(env, "AOS_RUN_RETRY_MAX_S", 0),
    workerPollMs: integer(env, "AOS_WORKER_POLL_MS", 10),
    apiBodyLimitBytes: integer(env, "AOS_API_BODY_LIMIT_BYTES", 1024),
    apiRatePerMinute: integer(env, "AOS_API_RATE_PER_MINUTE", 1),
    apiAuthFailureBurst: integer(env, "AOS_API_AUTH_FAILURE_BURST", 1),
    apiAuthFailuresPerMinute: integer(env, "AOS_API_AUTH_FAILURES_PER_MINUTE", 1),
    apiTrustProxy: trustProxy(env),
    apiEventsPollMs: integer(env, "AOS_API_EVENTS_POLL_MS", 10),
    workerListen: boolean(env, "AOS_WORKER_LISTEN"),
    webhookSecret: optional(env, "WEBHOOK_SECRET"),
    slackWebhookUrl: optional(env, "SLACK_WEBHOOK_URL"),
    postgresQueryUrl,
    postgresQueryMaxRows: integer(env, "PG_QUERY_MAX_ROWS", 1),
    postgresQueryTimeoutMs: integer(env, "PG_QUERY_TIMEOUT_MS", 1),
    anthropicApiKey: optional(env, "ANTHROPIC_API_KEY"),
    anthropicBaseUrl: optional(env, "ANTHROPIC_BASE_URL"),
    openaiApiKey: optional(env, "OPENAI_API_KEY"),
    openaiBaseUrl: optional(env, "OPENAI_BASE_URL"),
    redisUrl: optional(env, "REDIS_URL"),
    smtpUrl: optional(env, "SMTP_URL"),
    emailFrom: optional(env, "EMAIL_FROM"),
    resendApiKey: optional(env, "RESEND_API_KEY"),
    resendBaseUrl: optional(env, "RESEND_BASE_URL"),
    voyageApiKey: optional(env, "VOYAGE_API_KEY"),
    voyageBaseUrl: optional(env, "VOYAGE_BASE_URL"),
  });
}
