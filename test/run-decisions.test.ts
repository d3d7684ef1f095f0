import { afterAll, beforeAll, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import { claimRunById, retryRunLater } from "../src/db/queries/run-status.js";
import { setPolicy } from "../src/services/policies.js";
import { getRunProof } from "../src/services/proofs.js";
import { approveRun, cancelRun, rejectRun } from "../src/services/run-decisions.js";
import { createRun, getRunDetail } from "../src/services/runs.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";

const config = testConfig();
const guarded = { step_id: "guarded", skill: "fail_trigger", params: { fail_times: 0 } };
const plain = { step_id: "plain", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } };

/** Every table of the schema with a checksum of its whole content: two equal snapshots mean nothing was written. */
async function snapshot(db: Database): Promise<Map<string, string>> {
  const { rows: tables } = await db.pool.query<{ name: string }>(
    "select tablename as name from pg_tables where schemaname = 'public' order by tablename",
  );
  const sums = new Map<string, string>();
  for (const { name } of tables) {
    const { rows } = await db.pool.query<{ sum: string }>(
      `select md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) as sum from "${name}" t`,
    );
    sums.set(name, rows[0]?.sum ?? "");
  }
  return sums;
}

function changedTables(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after.keys()].filter((table) => before.get(table) !== after.get(table));
}

/** A fault in one table: any row written to it raises, the way a full disk, a constraint or a lost server would. */
async function withFault<T>(db: Database, table: string, work: () => Promise<T>): Promise<T> {
  await db.pool.query(`create trigger aos_test_fault before insert or update or delete on "${table}" for each row execute function aos_test_fault()`);
  try {
    return await work();
  } finally {
    await db.pool.query(`drop trigger aos_test_fault on "${table}"`);
  }
}

describeOnBackends("approve, reject and cancel are each one transaction, on $name", (backend) => {
  let db: TestDatabase;
  const tenantId = "t-decisions";
  const deps = () => runnerDeps(db, config);

  const parkedRun = async () => (await runToEnd(db, config, { tenantId, goal: "waits", plan: { steps: [plain, guarded] } })).run.id;
  const queuedRun = async () => (await createRun(deps(), { tenantId, goal: "queued", plan: { steps: [plain] } })).id;
  const retryRun = async () => {
    const id = await queuedRun();
    const claimed = (await claimRunById(db.pool, id, "w", config.leaseMs))!;
    await retryRunLater(db.pool, id, claimed.epoch, 0, "attempt 1 failed: the test says so");
    return id;
  };

  /** Each decision, the run it acts on, and how it ends when it succeeds. */
  const decisions = [
    { name: "approve", prepare: parkedRun, decide: (id: string) => approveRun(db, deps().keys, tenantId, id, "alice"), status: "queued" },
    { name: "reject", prepare: parkedRun, decide: (id: string) => rejectRun(db, deps().keys, tenantId, id, "bob", config.leaseMs), status: "halted" },
    { name: "cancel a parked run", prepare: parkedRun, decide: (id: string) => cancelRun(db, deps().keys, tenantId, id, config.leaseMs), status: "cancelled" },
    { name: "cancel a queued run", prepare: queuedRun, decide: (id: string) => cancelRun(db, deps().keys, tenantId, id, config.leaseMs), status: "cancelled" },
    { name: "cancel a retry run", prepare: retryRun, decide: (id: string) => cancelRun(db, deps().keys, tenantId, id, config.leaseMs), status: "cancelled" },
  ] as const;

  beforeAll(async () => {
    db = await backend.open();
    await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
    await db.pool.query(`create function aos_test_fault() returns trigger language plpgsql as $$
begin
  raise exception 'injected fault writing %', tg_table_name;
end $$`);
  });
  afterAll(async () => db?.close());

  for (const decision of decisions) {
    it(`${decision.name}: a fault in any table it writes leaves every table as it was; made again, it succeeds`, { timeout: 60_000 }, async () => {
      // Which tables the decision writes, found by making it once on a twin run.
      const twin = await decision.prepare();
      const beforeTwin = await snapshot(db);
      await decision.decide(twin);
      const written = changedTables(beforeTwin, await snapshot(db));
      expect(written).toContain("runs");

      const runId = await decision.prepare();
      for (const table of written) {
        const before = await snapshot(db);
        const outcome = await withFault<unknown>(db, table, () => decision.decide(runId)).then(
          () => "succeeded",
          (error: Error) => error.message,
        );
        expect(outcome, `with a fault in ${table}`).toMatch(/injected fault writing/);
        expect(changedTables(before, await snapshot(db)), `tables changed by the failed ${decision.name} (fault in ${table})`).toEqual([]);
      }
      await decision.decide(runId);
      const detail = await getRunDetail(db, config, tenantId, runId);
      expect(detail.run.status).toBe(decision.status);
      expect(detail.run.attempts).toBe((await getRunDetail(db, config, tenantId, twin)).run.attempts);
      if (decision.status !== "queued") expect(await getRunProof(db, config, tenantId, runId)).toMatchObject({ verification_status: "VERIFIED" });
    });
  }

  it("an approval and a rejection of one parked run at once: exactly one lands, the other says why, the proof holds", async () => {
    for (let round = 0; round < 5; round += 1) {
      const runId = await parkedRun();
      const outcomes = await Promise.allSettled([
        approveRun(db, deps().keys, tenantId, runId, "alice"),
        rejectRun(db, deps().keys, tenantId, runId, "bob", config.leaseMs),
      ]);
      expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
      const refused = outcomes.find((outcome) => outcome.status === "rejected") as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ code: expect.stringMatching(/^(RUN_NOT_CLAIMABLE|RUN_NOT_PENDING_APPROVAL|RUN_ALREADY_ENDED|CONFLICT)$/) });
      const { rows } = await db.pool.query("select decision from run_approvals where run_id = $1", [runId]);
      const run = (await getRunDetail(db, config, tenantId, runId)).run;
      if (outcomes[0].status === "fulfilled") {
        expect([rows, run.status]).toEqual([[{ decision: "approved" }], "queued"]);
      } else {
        expect([rows, run.status]).toEqual([[{ decision: "rejected" }], "halted"]);
        expect(await getRunProof(db, config, tenantId, runId)).toMatchObject({ verification_status: "VERIFIED" });
      }
    }
  });
});
