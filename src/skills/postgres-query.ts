import pg from "pg";
import { z } from "zod";
import { describeDatabaseUrl } from "../db/open-database.js";
import { SQLSTATE, sqlstateOf } from "../db/sqlstate.js";
import { settingWithDefault } from "../defaults.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { abortedOutcome, failure, ok } from "./outcome.js";
import { JSON_SAFE_TYPES } from "./postgres-json-values.js";
import { screenQuery } from "./postgres-query-screen.js";

const NAME = "postgres_query";
const CURSOR = "aos_postgres_query";
const DECLARE_PREFIX = `declare ${CURSOR} no scroll cursor for\n`;
const CONNECT_TIMEOUT_MS = 10_000;
/** How often the server checks that we are still there, so ending the client stops a running query (PG 14+). */
const CONNECTION_CHECK_MS = 1000;

const inputSchema = z
  .object({
    query: z.string().min(1).max(10_000),
    params: z.array(z.json()).max(1000).default([]).describe("bound to $1, $2, … in order; never spliced into the SQL"),
    max_rows: z.int().min(1).optional().describe(`at most ${settingWithDefault("PG_QUERY_MAX_ROWS")}, which is also the default`),
  })
  .strict();

export type PostgresQueryInput = z.output<typeof inputSchema>;

interface PostgresQueryResult {
  rows: Record<string, unknown>[];
  row_count: number;
  truncated: boolean;
  fields: { name: string; type_oid: number }[];
}

export const postgresQuerySkill: Skill<PostgresQueryInput> = {
  name: NAME,
  version: "1.0.0",
  description:
    "Runs one read-only SQL query (SELECT, WITH … SELECT, VALUES or TABLE) against the database named by " +
    "POSTGRES_QUERY_URL, never AOS's own. Values go in `params` and are bound as $1, $2, … (arrays bind as " +
    "PostgreSQL arrays, objects as JSON text); upstream's %(name)s placeholders are not supported. The query " +
    "runs in a read-only transaction under a statement timeout; writes, DDL and more than one statement are " +
    "refused. Dates and timestamps come back as ISO 8601 (UTC), int8 and numeric as strings, bytea as base64.",
  input: inputSchema,
  output: {
    rows: "up to max_rows rows, each an object keyed by column name (a later column wins a repeated name)",
    row_count: "the number of rows in `rows`",
    truncated: "true when the query had more rows than max_rows",
    fields: "the columns in order: [{name, type_oid}] (type_oid is pg_type.oid)",
  },
  determinism: "non_deterministic",
  sideEffects: "external_read",
  estimateLatencyMs: () => 50,
  estimateCostCents: () => 0,
  limits: {
    max_rows: `${settingWithDefault("PG_QUERY_MAX_ROWS")}: the cap and the default of max_rows`,
    statement_timeout_ms: `${settingWithDefault("PG_QUERY_TIMEOUT_MS")}, per statement`,
    query_chars: 10_000,
    params: 1000,
    connect_timeout_ms: CONNECT_TIMEOUT_MS,
  },
  // The SQL is never built from data: earlier results go in params, bound as $1, $2, ….
  literalFields: ["query"],
  missingSettings: (settings) => (settings.postgresQueryUrl ? [] : ["POSTGRES_QUERY_URL"]),
  // The database it reaches: through the egress floor and the agent's allowed_hosts like any other endpoint.
  configuredTargets: (_input, settings) => (settings.postgresQueryUrl ? [settings.postgresQueryUrl] : []),
  failureCodes: [
    "CREDENTIALS_MISSING", "VALIDATION_ERROR", "QUERY_REFUSED", "QUERY_ERROR", "TIMEOUT", "DATABASE_UNAVAILABLE",
    "NETWORK_ERROR", "DNS_ERROR", "HOST_NOT_FOUND", "CANCELLED",
  ],
  execute: executePostgresQuery,
};

async function executePostgresQuery(input: PostgresQueryInput, ctx: SkillContext): Promise<SkillOutcome> {
  const { postgresQueryUrl: url, postgresQueryMaxRows: cap, postgresQueryTimeoutMs: timeoutMs } = ctx.settings;
  if (url === undefined || url === "") {
    const message = `${NAME} needs POSTGRES_QUERY_URL, the database it may read (never AOS's own DATABASE_URL)`;
    return failure("CREDENTIALS_MISSING", message);
  }
  if (!URL.canParse(url)) return badUrl();
  const maxRows = input.max_rows ?? cap;
  if (maxRows > cap) {
    const message = `${NAME}: max_rows ${maxRows} is above PG_QUERY_MAX_ROWS (${cap}); ask for at most ${cap}`;
    return failure("VALIDATION_ERROR", message, { details: { max_rows: maxRows, cap } });
  }
  const screened = screenQuery(input.query);
  if (!screened.ok) return failure("QUERY_REFUSED", `${NAME} refused the query: ${screened.reason}`);
  if (ctx.signal.aborted) return abortedOutcome(NAME, ctx.signal);
  return runOnServer(url, screened.text, input.params, maxRows, timeoutMs, ctx.signal);
}

/**
 * One short-lived client per call: connect, read, end, whatever happens. Ending the client is also how a
 * cancellation or the backstop deadline stops a running query: the server notices the closed connection
 * (client_connection_check_interval) and the transaction rolls back.
 */
async function runOnServer(
  url: string,
  text: string,
  params: unknown[],
  maxRows: number,
  timeoutMs: number,
  cancel: AbortSignal,
): Promise<SkillOutcome> {
  const location = describeDatabaseUrl(url);
  let client: pg.Client;
  try {
    client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: `aos ${NAME}`,
      types: JSON_SAFE_TYPES,
    });
  } catch {
    return badUrl();
  }
  // A connection the server drops emits 'error' on the client after failing the pending query, which already
  // carries the error; without a listener Node would crash the worker.
  client.on("error", () => undefined);
  // Only if the server's own statement timeout never fires (a silent network partition).
  const backstop = AbortSignal.timeout(CONNECT_TIMEOUT_MS + 2 * timeoutMs + 5000);
  const signal = AbortSignal.any([cancel, backstop]);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= client.end().catch(() => undefined));
  const onAbort = (): void => void close();
  signal.addEventListener("abort", onAbort, { once: true });
  let connected = false;
  try {
    await client.connect();
    connected = true;
    return ok(await readRows(client, text, params, maxRows, timeoutMs));
  } catch (error) {
    if (cancel.aborted) return abortedOutcome(NAME, cancel);
    if (backstop.aborted) return timedOut(location, timeoutMs);
    return connected ? queryFailure(location, error, timeoutMs) : connectFailure(location, error);
  } finally {
    signal.removeEventListener("abort", onAbort);
    await close();
  }
}

/**
 * Sets, for this transaction only, the statement timeout and the formats postgres-json-values.ts reads. The
 * join with pg_settings skips what the server does not know (client_connection_check_interval is PG 14+).
 */
const SET_SESSION = `
select set_config(wanted.name, wanted.setting, true)
  from (values ('statement_timeout', $1::text),
               ('client_connection_check_interval', $2::text),
               ('TimeZone', 'UTC'),
               ('DateStyle', 'ISO, MDY'),
               ('IntervalStyle', 'iso_8601'),
               ('bytea_output', 'hex')) as wanted(name, setting)
 where exists (select from pg_settings where lower(pg_settings.name) = lower(wanted.name))
`;

/**
 * The row cap uses a cursor rather than wrapping the text in `select * from (<query>) q limit n`: the query
 * text is never spliced into other SQL (a trailing comment or an unbalanced parenthesis cannot change what
 * runs), the server stops producing rows after the FETCH count, and DECLARE … CURSOR FOR accepts only
 * SELECT, VALUES or TABLE without data-modifying WITH: the database itself refuses anything else. queryMode
 * "extended" makes pg use Parse/Bind even without params, and the extended protocol parses exactly one
 * statement, so `select 1; commit; delete …` can never run, whatever the screen missed.
 */
async function readRows(
  client: pg.Client,
  text: string,
  params: unknown[],
  maxRows: number,
  timeoutMs: number,
): Promise<PostgresQueryResult> {
  await client.query("begin transaction read only");
  await client.query(SET_SESSION, [String(timeoutMs), String(CONNECTION_CHECK_MS)]);
  const declare: pg.QueryConfig & { queryMode: "extended" } = {
    text: `${DECLARE_PREFIX}${text}`,
    values: params,
    queryMode: "extended",
  };
  await client.query(declare);
  // FETCH takes no parameters; the count is an integer the input schema and the cap have checked.
  const fetched = await client.query<Record<string, unknown>>(`fetch forward ${maxRows + 1} from ${CURSOR}`);
  await client.query("rollback");
  const truncated = fetched.rows.length > maxRows;
  const rows = truncated ? fetched.rows.slice(0, maxRows) : fetched.rows;
  const fields = fetched.fields.map((field) => ({ name: field.name, type_oid: field.dataTypeID }));
  return { rows, row_count: rows.length, truncated, fields };
}

/** The parser's own message may quote the URL, password and all, so it is not passed on. */
function badUrl(): SkillOutcome {
  return failure("CREDENTIALS_MISSING", `${NAME}: POSTGRES_QUERY_URL is not a valid postgres:// connection URL`);
}

function timedOut(location: string, timeoutMs: number): SkillOutcome {
  const message = `${NAME} on ${location} ran past PG_QUERY_TIMEOUT_MS (${timeoutMs} ms)`;
  return failure("TIMEOUT", message, { details: { timeout_ms: timeoutMs } });
}

/** Only errors the server sent carry a SQLSTATE; a socket error's code (EPIPE) can look like one. */
function serverState(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? sqlstateOf(error) : undefined;
}

function connectFailure(location: string, error: unknown): SkillOutcome {
  const state = serverState(error);
  const errno = (error as NodeJS.ErrnoException | null)?.code;
  const where = `${NAME} cannot reach PostgreSQL at ${location}`;
  if (state === SQLSTATE.INVALID_PASSWORD || state === SQLSTATE.INVALID_AUTHORIZATION) {
    const message = `${where}: the server refused the credentials; fix POSTGRES_QUERY_URL`;
    return failure("DATABASE_UNAVAILABLE", message, { retryable: false, details: { sqlstate: state } });
  }
  if (state === SQLSTATE.INVALID_CATALOG_NAME) {
    const message = `${where}: the database does not exist; fix POSTGRES_QUERY_URL`;
    return failure("DATABASE_UNAVAILABLE", message, { retryable: false, details: { sqlstate: state } });
  }
  if (state !== undefined) {
    return failure("DATABASE_UNAVAILABLE", `${where}: the server refused the connection (SQLSTATE ${state})`, {
      details: { sqlstate: state },
    });
  }
  if (errno === "ENOTFOUND") return failure("HOST_NOT_FOUND", `${where}: the host name does not resolve`);
  if (errno === "EAI_AGAIN") return failure("DNS_ERROR", `${where}: the resolver failed (${errno})`);
  const reason = errno === "ECONNREFUSED" ? "connection refused" : (errno ?? "the connection failed or timed out");
  return failure("NETWORK_ERROR", `${where} (${reason})`, errno === undefined ? {} : { details: { errno } });
}

function queryFailure(location: string, error: unknown, timeoutMs: number): SkillOutcome {
  const state = serverState(error);
  if (state === undefined) {
    return failure("NETWORK_ERROR", `${NAME} lost its connection to ${location} during the query`);
  }
  if (state === SQLSTATE.QUERY_CANCELED) return timedOut(location, timeoutMs);
  const message = (error as Error).message;
  if (state === SQLSTATE.READ_ONLY_SQL_TRANSACTION) {
    return failure("QUERY_REFUSED", `${NAME} runs reads only, and the database refused a write: ${message}`, {
      details: { sqlstate: state },
    });
  }
  if (state === SQLSTATE.ADMIN_SHUTDOWN || state === SQLSTATE.CANNOT_CONNECT_NOW) {
    return failure("DATABASE_UNAVAILABLE", `${NAME}: PostgreSQL at ${location} is shutting down`, {
      details: { sqlstate: state },
    });
  }
  // The server counts from the start of the DECLARE; the user counts from the start of their query.
  const position = Number((error as pg.DatabaseError).position) - DECLARE_PREFIX.length;
  return failure("QUERY_ERROR", `${NAME} failed on ${location}: ${message} (SQLSTATE ${state})`, {
    details: { sqlstate: state, ...(position >= 1 ? { position } : {}) },
  });
}
