import type { Config } from "../../src/config.js";
import type { Database } from "../../src/db/database.js";
import type { Run } from "../../src/glossary.js";
import { createAgent } from "../../src/services/agents.js";
import { type EffectServer, mustBeAlive, queueRuns, unfinishedCount, waitFor, type WorkerProcess } from "./worker-process.js";

/** Worker settings for the chaos tests: short leases and run-level retries of a second or two, many attempts. */
export const CHAOS_ENV = {
  AOS_LEASE_MS: "2000",
  AOS_WORKER_POLL_MS: "50",
  AOS_RUN_RETRY_BASE_S: "1",
  AOS_RUN_RETRY_MAX_S: "2",
  RUN_MAX_ATTEMPTS: "50",
  AOS_DB_POOL_MAX: "4",
};

const slow = (stepId: string, ms: number) => ({ step_id: stepId, skill: "fail_trigger", params: { fail_times: 0, delay_ms: ms } });
const post = (stepId: string, url: string) => ({ step_id: stepId, skill: "http_call", params: { url, method: "POST", body: { step: stepId } } });

/** prepare (300 ms), a POST to the effect server (step 1), settle (300 ms). */
export const chaosPlan = (effects: EffectServer) => ({ steps: [slow("prepare", 300), post("charge", `${effects.url}/charge`), slow("settle", 300)] });

/**
 * A stream of runs kept in front of the workers (at least `minUnfinished` unfinished), so every fault hits them in
 * the middle of their work, and the waits the tests make on it: every wait polls the database for an event with a
 * generous deadline and fails at once if a worker that must live has exited.
 */
export class ChaosLoad {
  readonly runs: Run[] = [];

  private constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly input: { tenantId: string; agentId: string; plan: object },
    private readonly mustLive: () => readonly WorkerProcess[],
    private readonly minUnfinished: number,
  ) {}

  static async start(db: Database, config: Config, effects: EffectServer, tenantId: string, mustLive: () => readonly WorkerProcess[], minUnfinished = 8): Promise<ChaosLoad> {
    const agent = await createAgent(db, { tenantId, name: tenantId, allowedHosts: [effects.host] });
    await db.pool.query("update agents set concurrent_runs_limit = 1000 where id = $1", [agent.id]);
    return new ChaosLoad(db, config, { tenantId, agentId: agent.id, plan: chaosPlan(effects) }, mustLive, minUnfinished);
  }

  ids(): string[] {
    return this.runs.map((run) => run.id);
  }

  async topUp(): Promise<void> {
    if ((await unfinishedCount(this.db, this.ids())) >= this.minUnfinished) return;
    const { tenantId, agentId, plan } = this.input;
    const inputs = Array.from({ length: this.minUnfinished }, (_, i) => ({ tenantId, agentId, goal: `chaos ${this.runs.length + i}`, plan }));
    this.runs.push(...(await queueRuns(this.db, this.config, inputs, 2)));
  }

  private async succeeded(): Promise<number> {
    const { rows } = await this.db.pool.query("select count(*)::int as n from runs where id = any($1::text[]) and status = 'succeeded'", [this.ids()]);
    return rows[0].n as number;
  }

  private alive(): void {
    for (const worker of this.mustLive()) mustBeAlive(worker);
  }

  /** Waits until `count` more runs succeeded than when the first probe got an answer (the server may be restarting). */
  async moreSucceed(what: string, count: number): Promise<void> {
    let before: number | undefined;
    await waitFor(what, async () => {
      this.alive();
      await this.topUp();
      const now = await this.succeeded();
      before ??= now;
      return now >= before + count;
    });
  }

  /** Tops the queue up and waits until `worker` holds a run. */
  async busy(worker: WorkerProcess): Promise<void> {
    await waitFor(`${worker.id} holds runs`, async () => {
      this.alive();
      await this.topUp();
      const { rows } = await this.db.pool.query("select 1 from runs where worker_id = $1 and status = 'running'", [worker.id]);
      return rows.length > 0;
    });
  }
}
