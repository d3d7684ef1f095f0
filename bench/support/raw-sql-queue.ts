import type { Database } from "../../src/db/database.js";

/**
 * The ceiling for a run's durable writes: the same shape of work as a 3-step run (claim, then per step one
 * statement that inserts the step and advances the run, then complete), as plain SQL on scratch tables with no
 * hashing, tracing, policy or records, from the same pool at the same concurrency.
 */
export async function rawSqlStepsPerSecond(db: Database, runs: number, stepsPerRun: number, concurrency: number): Promise<{ steps: number; seconds: number; perSecond: number }> {
  await db.pool.query(`create table if not exists bench_raw_runs (
    id bigint primary key, status text not null, next_seq int not null default 0, epoch int not null default 0,
    worker text, lease_expires_at timestamptz, completed_at timestamptz)`);
  await db.pool.query(`create table if not exists bench_raw_steps (
    run_id bigint not null, seq int not null, payload jsonb not null, primary key (run_id, seq))`);
  await db.pool.query(`create index if not exists bench_raw_runs_queue on bench_raw_runs (id) where status = 'queued'`);
  await db.pool.query("truncate bench_raw_runs, bench_raw_steps");
  await db.pool.query("insert into bench_raw_runs (id, status) select g, 'queued' from generate_series(1, $1::int) g", [runs]);
  const start = performance.now();
  const loop = async (worker: string) => {
    for (;;) {
      const claimed = await db.pool.query<{ id: string; epoch: number }>(
        `update bench_raw_runs set status = 'running', epoch = epoch + 1, worker = $1, lease_expires_at = now() + interval '30 seconds'
         where id = (select id from bench_raw_runs where status = 'queued' order by id limit 1 for update skip locked)
         returning id, epoch`,
        [worker],
      );
      const run = claimed.rows[0];
      if (run === undefined) return;
      for (let seq = 0; seq < stepsPerRun; seq++) {
        await db.pool.query(
          `with advanced as (
             update bench_raw_runs set next_seq = next_seq + 1 where id = $1 and epoch = $2 and next_seq = $3 returning id)
           insert into bench_raw_steps (run_id, seq, payload) select id, $3, $4::jsonb from advanced`,
          [run.id, run.epoch, seq, JSON.stringify({ a: 1, step: seq })],
        );
      }
      await db.pool.query(`update bench_raw_runs set status = 'succeeded', completed_at = now() where id = $1 and epoch = $2`, [run.id, run.epoch]);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(`raw-${i}`)));
  const seconds = (performance.now() - start) / 1000;
  await db.pool.query("drop table bench_raw_steps, bench_raw_runs");
  return { steps: runs * stepsPerRun, seconds, perSecond: Math.round((runs * stepsPerRun) / seconds) };
}
