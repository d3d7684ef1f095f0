import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { getRunProof, type RunProof } from "../src/services/proofs.js";
import { proofKeys } from "../src/services/proof-keys.js";
import { parseRetentionAge, pruneFinishedRuns } from "../src/services/retention.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { testConfig } from "./support/harness.js";
import { finishedRichRun, parkedRichRun } from "./support/rich-run.js";
import { asSuperuser } from "./support/tamper.js";

/**
 * The systematic attack on a run's proof (issue: "change every column of every row that belongs to the run, one
 * at a time, with triggers disabled"). The rows and columns come from the catalog: every table holding a run_id
 * (or source_run_id), plus the run's trace steps. Each column is changed to a value the database accepts, and the
 * proof must then never be VERIFIED and must name the row (its seq) or the field. A column that is neither proven
 * nor listed below as not proven, with its reason (as docs/proofs.md lists it), fails the test by name — so a column
 * added later is covered, or noticed.
 */
const NOT_PROVEN: Readonly<Record<string, string>> = {
  "aos_trace_steps.id": "a surrogate key",
  "aos_trace_steps.created_at": "when the row was inserted",
  "aos_trace_steps.pruned_at": "when aos prune dropped the payload, after signing: a pruned marker changes no verdict",
  "aos_traces.id": "a surrogate key",
  "aos_checkpoints.created_at": "when the checkpoint row was inserted",
  "aos_tenant_log_entries.integrated_at": "when the sequencer integrated the entry",
  "runs.epoch": "the queue's fencing token",
  "runs.priority": "the queue's order",
  "runs.next_step_index": "the worker's cursor, checked by the worker from the attested rows",
  "runs.cancel_requested_at": "a request to the worker",
  "runs.cancel_attestation": "the request's attestation, checked by the worker before it honours the request",
  "runs.attempt_started": "live progress: the attempt a worker is executing in process now, shown and never proven",
  "runs.idempotency_key": "unused by AOS (the API keeps its keys in run_requests)",
  "runs.tool_calls_json": "unused by AOS",
};

/**
 * Records derived from the trace and written with the checkpoint, not themselves hashed; and skills' own stores (the
 * world a skill acted on: the step's outcome in the trace is what is proven) (docs/proofs.md, "What is not proven").
 */
const RECORD_TABLES = [
  "incidents",
  "prevention_records",
  "integrity_evidence",
  "llm_run_records",
  "provenance",
  "memories",
  "run_approvals",
  "run_requests",
  "calendar_events",
];

/** While a run has not ended, the queue's columns are its state, not facts (docs/proofs.md, "What is not proven"). */
const NOT_PROVEN_WHILE_UNFINISHED = ["runs.attempts", "runs.started_at", "runs.error_message", "runs.worker_id", "runs.lease_expires_at", "runs.next_attempt_at"];

/** Columns that locate the run itself: changed, the run (or its trace, or its checkpoint) is not found at all. */
const IDENTITY: Readonly<Record<string, RegExp>> = {
  "runs.id": /No trace found/,
  "runs.tenant_id": /No trace found/,
  "aos_traces.run_id": /No trace found/,
  "aos_traces.trace_id": /No trace found/,
  "aos_traces.tenant_id": /No trace found/,
};

interface Column {
  table: string;
  column: string;
  type: string;
}

/** Every column of the tables a run's rows live in, from the catalog. */
async function runColumns(db: TestDatabase): Promise<Column[]> {
  const { rows } = await db.pool.query<{ table_name: string; column_name: string; type: string }>(
    `select c.relname as table_name, a.attname as column_name, format_type(a.atttypid, a.atttypmod) as type
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'public' and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
  and (c.relname in ('runs', 'aos_trace_steps')
    or exists (select 1 from pg_attribute r where r.attrelid = c.oid and r.attname in ('run_id', 'source_run_id') and not r.attisdropped))
order by c.relname, a.attnum`,
  );
  return rows.map((row) => ({ table: row.table_name, column: row.column_name, type: row.type }));
}

/** The rows of `table` that belong to the run, by ctid. */
async function rowsOf(db: TestDatabase, table: string, runId: string): Promise<{ ctid: string; seq: number | null }[]> {
  const where =
    table === "runs"
      ? "id = $1"
      : table === "aos_trace_steps"
        ? "trace_id = 'trace_' || $1"
        : table === "incidents"
          ? "source_run_id = $1"
          : "run_id = $1";
  const seq = table === "aos_trace_steps" ? "seq" : "null::int";
  const { rows } = await db.pool.query(`select ctid::text as ctid, ${seq} as seq from ${table} where ${where} order by 2`, [runId]);
  return rows;
}

const TERMINAL_FIRST = ["succeeded", "failed", "halted", "cancelled", "completed", "aborted", "blocked", "interrupted", "started", "queued", "running", "retry", "pending_approval"];

/**
 * Candidate new values for a column, as SQL expressions over the current value `v` (cast to the column's type by the
 * caller): the first the database accepts is used. Subtle where the old hashing was blind: a microsecond, a number
 * spelled differently.
 */
function candidates(type: string, current: string | null): string[] {
  if (type.startsWith("timestamp")) return current === null ? ["now()"] : ["v + interval '1 microsecond'"];
  if (type === "integer" || type === "bigint" || type === "double precision" || type === "numeric" || type === "real") {
    return current === null ? ["1"] : ["v + 1", "v - 1"];
  }
  if (type === "boolean") return current === null ? ["true"] : ["not v"];
  if (type === "bytea") return current === null ? ["'\\x7b7d'::bytea"] : ["v || '\\x20'::bytea", "overlay(v placing '\\x30'::bytea from 2 for 1)"];
  if (type === "jsonb") {
    if (current === null) return [`'{}'::jsonb`, `'"x"'::jsonb`];
    const respelled = respellNumber(current);
    return [...(respelled === undefined ? [] : [`'${respelled.replaceAll("'", "''")}'::jsonb`]), `v || '{"mutated": 1}'::jsonb`, `'["mutated"]'::jsonb`];
  }
  if (type === "uuid") return [`'${randomUUID()}'::uuid`];
  if (type === "date") return current === null ? ["current_date"] : ["v + 1"];
  if (type.endsWith("[]")) return current === null ? ["'{x}'"] : ["array_append(v, 'x')"];
  if (type.startsWith("character(64)")) return ["repeat('0', 64)", "repeat('1', 64)"];
  if (type.startsWith("character(8)")) return ["'00000000'", "'11111111'"];
  // text, varchar: another allowed word first (check constraints), then an edit.
  const words = TERMINAL_FIRST.filter((word) => word !== current).map((word) => `'${word}'`);
  return current === null ? ["'x'", ...words] : ["v || 'x'", ...words, "'x'"];
}

/** The jsonb text with its first number spelled another way that parses to the same double (3 → 3.0, 0.1 → 0.10). */
function respellNumber(text: string): string | undefined {
  const match = /(?<=[:\[,] ?)(-?\d+)(\.\d+)?(?=[,}\]])/.exec(text);
  if (match === null) return undefined;
  const spelled = match[2] === undefined ? `${match[1]}.0` : `${match[0]}0`;
  return text.slice(0, match.index) + spelled + text.slice(match.index + match[0].length);
}

/** Changes one column of one row to the first candidate the database accepts; returns how to put it back. */
async function mutate(db: TestDatabase, target: Column, ctid: string): Promise<{ restore: () => Promise<void>; to: string } | undefined> {
  const { table, column, type } = target;
  const read = await db.pool.query(`select ${column}::text as value from ${table} where ctid = $1::tid`, [ctid]);
  const current = read.rows[0]?.value ?? null;
  for (const expression of candidates(type, current)) {
    const value = expression.replaceAll(/\bv\b/g, `t.${column}`);
    try {
      let moved = "";
      const client = await db.pool.connect();
      try {
        await client.query("begin");
        await client.query("set local session_replication_role = replica");
        const { rows } = await client.query(
          `update ${table} t set ${column} = (${value})::${type} where t.ctid = $1::tid and (${value})::${type} is distinct from t.${column} returning t.ctid::text as ctid, t.${column}::text as now`,
          [ctid],
        );
        await client.query("commit");
        if (rows.length === 0) continue;
        moved = rows[0].ctid;
        const to = rows[0].now;
        return {
          to,
          restore: () => asSuperuser(db, [`update ${table} set ${column} = $1::${type} where ctid = $2::tid`, [current, moved]]),
        };
      } catch {
        await client.query("rollback");
      } finally {
        client.release();
      }
    } catch {
      // the next candidate
    }
  }
  return undefined;
}

/** Whether the verdict points at what was changed: its column, its row's seq, or the bytes it copies. */
function names(proof: RunProof, target: Column, seq: number | null): boolean {
  const where = `${target.table}.${target.column}`;
  const field = proof.field ?? "";
  if (field === where || field.startsWith(`${where} `)) return true;
  if (target.table === "aos_trace_steps") return proof.first_bad_seq === seq;
  if (target.table === "runs") return false;
  if (target.table === "aos_traces") {
    const byBytes: Record<string, RegExp> = {
      header_jcs: /^header/,
      plan_jcs: /^plan$/,
      run_end_jcs: /^run_end/,
      attestation: /^header\.attestation$/,
      root_hash: /^(run_end|root_hash)$/,
      merkle_root: /^aos_traces\.merkle_root$/,
      tree_size: /^aos_traces\.merkle_root$/,
    };
    return byBytes[target.column]?.test(field) ?? false;
  }
  if (target.table === "aos_checkpoints") return field === "checkpoint" || field === "aos_checkpoints";
  // The entry's bytes, index, run or tenant changed: the log's entry for this run is not what its trace implies.
  if (target.table === "aos_tenant_log_entries") return field.startsWith("aos_tenant_log_entries");
  return false;
}

const config = testConfig();

describeOnBackends("every column of every row of a run, changed one at a time, on $name", (backend) => {
  let db: TestDatabase;
  let columns: Column[];
  let tenant = 0;
  beforeAll(async () => {
    db = await backend.open();
    columns = await runColumns(db);
  });
  afterAll(async () => db?.close());

  const parkedRun = () => parkedRichRun(db, config, `t-mut-${++tenant}`);

  async function finishedRun(): Promise<{ tenantId: string; runId: string }> {
    const run = await finishedRichRun(db, config, `t-mut-${++tenant}`);
    const proof = await getRunProof(db, config, run.tenantId, run.runId);
    expect(proof.verification_status).toBe("VERIFIED");
    expect(proof.aos_trace_steps.map((step) => [step.step_index, step.attempt, step.status])).toEqual(
      expect.arrayContaining([
        [1, 1, "blocked"],
        [2, 2, "failed"],
        [2, 3, "succeeded"],
        [3, 2, "failed"],
      ]),
    );
    return run;
  }

  /** The failures, and every change that was made (`table.column[@seq]`), so a reader can see the attack was real. */
  async function attackEveryColumn(run: { tenantId: string; runId: string }, finished: boolean): Promise<{ failures: string[]; changed: string[] }> {
    const unaccounted: string[] = [];
    const failures: string[] = [];
    const changed: string[] = [];
    for (const target of columns) {
      const where = `${target.table}.${target.column}`;
      if (RECORD_TABLES.includes(target.table) || NOT_PROVEN[where] !== undefined) continue;
      if (!finished && NOT_PROVEN_WHILE_UNFINISHED.includes(where)) continue;
      if (!["runs", "aos_traces", "aos_trace_steps", "aos_checkpoints", "aos_tenant_log_entries", "aos_tenant_log_pending"].includes(target.table)) {
        unaccounted.push(`${where}: in a table holding a run_id, neither proven nor listed as a record table`);
        continue;
      }
      for (const row of await rowsOf(db, target.table, run.runId)) {
        const mutation = await mutate(db, target, row.ctid);
        if (mutation === undefined) continue; // the database refuses every change of it, even to a superuser
        const proof = await getRunProof(db, config, run.tenantId, run.runId);
        await mutation.restore();
        const at = row.seq === null ? where : `${where} at seq ${row.seq}`;
        changed.push(at);
        const identity = IDENTITY[where];
        if (identity !== undefined) {
          if (proof.verification_status !== "UNSUPPORTED" || !identity.test(proof.failure_reason ?? "")) failures.push(`${at} → ${proof.verification_status}`);
        } else if (proof.verification_status !== "TAMPERED" || !names(proof, target, row.seq)) {
          failures.push(`${at} → ${mutation.to.slice(0, 40)}: ${proof.verification_status} (${proof.field}, seq ${proof.first_bad_seq}): ${proof.failure_reason}`);
        }
      }
    }
    expect(unaccounted).toEqual([]);
    // Every change was put back exactly: the run verifies (or, unfinished, checks) as before.
    expect((await getRunProof(db, config, run.tenantId, run.runId)).verification_status).toBe(finished ? "VERIFIED" : "INCOMPLETE");
    return { failures, changed };
  }

  /** Every proven column of the four trace tables was changed on every row it has (unless the database refused). */
  function expectCovered(changed: string[], expected: string[]): void {
    for (const where of expected) expect(changed.some((at) => at === where || at.startsWith(`${where} at seq`)), where).toBe(true);
  }

  it("a finished run with an approval wait, a retried step and a failed on_error: continue step", { timeout: 300_000 }, async () => {
    const { failures, changed } = await attackEveryColumn(await finishedRun(), true);
    expect(failures).toEqual([]);
    expectCovered(changed, ["runs.goal", "runs.status", "runs.cost_cents", "runs.completed_at", "runs.plan_json", "aos_traces.run_end_jcs", "aos_traces.header_jcs", "aos_traces.metadata", "aos_checkpoints.note", "aos_tenant_log_entries.entry", "aos_tenant_log_entries.idx"]);
    expectCovered(changed, ["aos_trace_steps.params", "aos_trace_steps.params_jcs", "aos_trace_steps.header_jcs", "aos_trace_steps.decision", "aos_trace_steps.started_at", "aos_trace_steps.attestation"]);
    // Nine step rows (one per attempt) with their ~30 columns, the run's, the trace's and the checkpoint's.
    expect(changed.length).toBeGreaterThan(250);
  });

  it("the same run, pruned: every header field of the pruned steps stays proven", { timeout: 300_000 }, async () => {
    const run = await finishedRun();
    const pruned = await pruneFinishedRuns(db, proofKeys(config), {
      olderThan: parseRetentionAge("1min"),
      tenantId: run.tenantId,
      dryRun: false,
      now: new Date(Date.now() + 3_600_000),
    });
    expect(pruned).toMatchObject({ runs: 1, refused: [] });
    expect(await getRunProof(db, config, run.tenantId, run.runId)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: pruned.steps });
    const { failures, changed } = await attackEveryColumn(run, true);
    expect(failures).toEqual([]);
    expectCovered(changed, ["aos_trace_steps.status", "aos_trace_steps.cost_cents", "aos_trace_steps.skill_name", "aos_trace_steps.decision", "aos_trace_steps.header_jcs"]);
  });

  it("an unfinished run, parked for approval: attestations catch what no checkpoint yet covers", { timeout: 300_000 }, async () => {
    const { failures, changed } = await attackEveryColumn(await parkedRun(), false);
    expect(failures).toEqual([]);
    expectCovered(changed, ["runs.goal", "runs.status", "aos_traces.header_jcs", "aos_traces.attestation", "aos_trace_steps.outcome_jcs", "aos_trace_steps.attestation"]);
  });

  it("deletions, insertions, reorderings and moves between runs", { timeout: 120_000 }, async () => {
    const cases: [string, (a: string, b: string) => [string, unknown[]][]][] = [
      ["each step row deleted", () => []],
      ["the checkpoint deleted", (a) => [["delete from aos_checkpoints where run_id = $1", [a]]]],
      ["a step row inserted after the last", (a) => [
        [
          `insert into aos_trace_steps select (jsonb_populate_record(null::aos_trace_steps, to_jsonb(s) - 'id' || jsonb_build_object('id', gen_random_uuid(), 'seq', s.seq + 1))).*
           from aos_trace_steps s where trace_id = 'trace_' || $1 and seq = (select max(seq) from aos_trace_steps where trace_id = 'trace_' || $1)`,
          [a],
        ],
      ]],
      ["two step rows swapped", (a) => [
        ["update aos_trace_steps set seq = 1000 where trace_id = 'trace_' || $1 and seq = 0", [a]],
        ["update aos_trace_steps set seq = 0 where trace_id = 'trace_' || $1 and seq = 1", [a]],
        ["update aos_trace_steps set seq = 1 where trace_id = 'trace_' || $1 and seq = 1000", [a]],
      ]],
      ["a step row moved to another run", (a, b) => [["update aos_trace_steps set trace_id = 'trace_' || $2, seq = 1000 where trace_id = 'trace_' || $1 and seq = 1", [a, b]]]],
      ["a step row moved in from another run", (a, b) => [
        ["delete from aos_trace_steps where trace_id = 'trace_' || $1 and seq = 1", [a]],
        ["update aos_trace_steps set trace_id = 'trace_' || $1 where trace_id = 'trace_' || $2 and seq = 1", [a, b]],
      ]],
      ["two runs' run-ends swapped", (a, b) => [
        ["update aos_traces t set run_end_jcs = o.run_end_jcs from aos_traces o where t.run_id = $1 and o.run_id = $2", [a, b]],
      ]],
      ["two runs' checkpoints swapped", (a, b) => [
        ["update aos_checkpoints set note = (select note from aos_checkpoints where run_id = $2) where run_id = $1", [a, b]],
      ]],
    ];
    for (const [what, change] of cases) {
      const a = await finishedRun();
      const b = await finishedRun();
      if (what === "each step row deleted") {
        const { rows } = await db.pool.query("select seq from aos_trace_steps where trace_id = 'trace_' || $1 order by seq", [a.runId]);
        for (const { seq } of rows) {
          const other = await finishedRun();
          await asSuperuser(db, ["delete from aos_trace_steps where trace_id = 'trace_' || $1 and seq = $2", [other.runId, seq]]);
          const proof = await getRunProof(db, config, other.tenantId, other.runId);
          expect([what, seq, proof.verification_status, proof.first_bad_seq]).toEqual([what, seq, "TAMPERED", seq]);
        }
        continue;
      }
      await asSuperuser(db, ...change(a.runId, b.runId));
      const proof = await getRunProof(db, config, a.tenantId, a.runId);
      expect([what, proof.verification_status]).toEqual([what, "TAMPERED"]);
    }
  });
});
