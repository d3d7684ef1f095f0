import type { Queryable } from "../database.js";

export interface WorkerRegistration {
  id: string;
  pid: number;
  host: string;
  concurrency: number;
}

export async function registerWorker(db: Queryable, worker: WorkerRegistration): Promise<void> {
  await db.query(
    `insert into workers (id, pid, host, concurrency)
values ($1::text, $2::int, $3::text, $4::int)
on conflict (id) do update
set pid = excluded.pid, host = excluded.host, concurrency = excluded.concurrency,
  started_at = now(), last_seen_at = now(), stopped_at = null`,
    [worker.id, worker.pid, worker.host, worker.concurrency],
  );
}

export async function touchWorker(db: Queryable, workerId: string): Promise<void> {
  await db.query(`update workers set last_seen_at = now() where id = $1::text`, [workerId]);
}

export async function markWorkerStopped(db: Queryable, workerId: string): Promise<void> {
  await db.query(`update workers set stopped_at = now() where id = $1::text`, [workerId]);
}

/** Workers seen within the last `withinMs` and not stopped: those that will pick up a queued run. */
export async function countLiveWorkers(db: Queryable, withinMs: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n
from workers
where stopped_at is null and last_seen_at > now() - make_interval(secs => $1::int / 1000.0)`,
    [withinMs],
  );
  return rows[0]?.n ?? 0;
}
