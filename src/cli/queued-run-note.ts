import type { Database } from "../db/database.js";
import { countLiveWorkers } from "../db/queries/workers.js";
import type { Run } from "../glossary.js";
import type { CliContext } from "./context.js";

/**
 * A command that queues a run and returns (`--no-wait`) says on stderr who will execute it when no worker has
 * registered itself lately (workers touch their row every third of a lease, so one silent for a lease is gone):
 * otherwise the run would sit queued with nothing to tell the person why.
 */
export async function noteUnworkedQueue(ctx: CliContext, db: Database, run: Pick<Run, "id" | "status">): Promise<void> {
  if (run.status !== "queued" || (await countLiveWorkers(db.pool, ctx.config.leaseMs)) > 0) return;
  const database = ctx.config.databaseUrl === undefined ? `AOS_HOME=${ctx.config.home}` : "this DATABASE_URL";
  ctx.output.err(
    `run ${run.id} is queued, and no worker has been seen in the last ${Math.round(ctx.config.leaseMs / 1000)} s to execute it: ` +
      `start one with \`aos worker\` (or \`aos dev\` / \`aos serve\`, which run one) on ${database}`,
  );
}
