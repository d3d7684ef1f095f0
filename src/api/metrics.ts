import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Database } from "../db/database.js";
import { countRunsByStatus, countWaitingRuns } from "../db/queries/runs.js";

/**
 * The API process's Prometheus metrics (GET /metrics). Runs by status and the queue depth are read from the
 * database when scraped, so they are right whichever process ran the runs; step latency and lease expiries are
 * observed by the worker running inside this process (`aos serve` without --no-worker), and proof verifications by
 * the proof route.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly stepDuration: Histogram<"skill" | "status">;
  readonly leaseExpiries: Counter<"outcome">;
  readonly proofVerifications: Counter<"status">;
  readonly requests: Counter<"route" | "status">;

  constructor(db: Database) {
    const registers = [this.registry];
    new Gauge({
      name: "aos_runs",
      help: "Runs by status, all tenants",
      labelNames: ["status"],
      registers,
      async collect() {
        this.reset();
        for (const row of await countRunsByStatus(db.pool)) this.set({ status: row.status }, row.n);
      },
    });
    new Gauge({
      name: "aos_queue_depth",
      help: "Runs waiting to be claimed (queued, or waiting for their retry time)",
      registers,
      async collect() {
        this.set(await countWaitingRuns(db.pool));
      },
    });
    this.stepDuration = new Histogram({
      name: "aos_step_duration_seconds",
      help: "Wall time of step attempts executed by this process's worker",
      labelNames: ["skill", "status"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers,
    });
    this.leaseExpiries = new Counter({
      name: "aos_lease_expiries_total",
      help: "Runs whose lease expired, found by this process's reaper: requeued, or failed at RUN_MAX_ATTEMPTS",
      labelNames: ["outcome"],
      registers,
    });
    this.proofVerifications = new Counter({
      name: "aos_proof_verifications_total",
      help: "Run proofs verified through the API, by result",
      labelNames: ["status"],
      registers,
    });
    this.requests = new Counter({
      name: "aos_http_requests_total",
      help: "API requests by route and status code",
      labelNames: ["route", "status"],
      registers,
    });
  }
}
