import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { ownerDatabase } from "../db/tenant-scope.js";
import { hasPendingEntries, tenantsDueForCheckpoint, tenantsWithPendingEntries } from "../db/queries/tenant-log.js";
import { toAppError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { KeyRing } from "../trace/key-store.js";
import { type CheckpointCadence, integrateTenantLog, type SignedCheckpoint } from "./integrate.js";
import { configuredTimestampAuthority, timestampCheckpoint } from "./timestamps.js";
import { configuredWitnesses, resubmitPending, submitToWitnesses } from "./witnesses.js";

export interface SequencerDeps {
  keys: KeyRing;
  log: Logger;
  cadence: CheckpointCadence;
  /** Called after each checkpoint this process signs has committed: witnesses and the TSA are asked here. */
  onCheckpoint?: (signed: SignedCheckpoint) => Promise<void>;
  /** Called every few sweeps: what witnesses did not cosign yet is submitted again. */
  onIdle?: () => Promise<void>;
}

/** Sweeps between two onIdle calls: with the default 500 ms sweep, every 5 s. */
const SWEEPS_PER_IDLE = 10;

/**
 * Integrates finished runs into their tenants' logs, next to a worker. A worker kicks it for the tenant of each run
 * it ends, so an entry is usually integrated within milliseconds; a sweep every `sweepMs` catches the rest (runs
 * ended by a process that then died, another process's kicks while this one held the lock) and signs checkpoints
 * whose time has come. Within the process one round per tenant runs at a time; across processes, the advisory
 * lock (integrate.ts) — a round that finds it taken leaves the entries to the holder, which looks again after it
 * commits, so none is stranded.
 */
export class TenantLogSequencer {
  private readonly rounds = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private sweeps = 0;

  constructor(
    private readonly db: Database,
    private readonly deps: SequencerDeps,
  ) {}

  start(sweepMs = 500): void {
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), sweepMs);
    this.timer.unref();
  }

  /** Integrates the tenant's queued entries soon; returns at once. */
  kick(tenantId: string): void {
    void this.drain(tenantId);
  }

  /** Integrates the tenant's queued entries now and resolves once this process has no round of it in flight. */
  async drain(tenantId: string): Promise<void> {
    const running = this.rounds.get(tenantId);
    if (running !== undefined) {
      this.again.add(tenantId);
      return running;
    }
    const round = this.integrateUntilDone(tenantId).finally(() => this.rounds.delete(tenantId));
    this.rounds.set(tenantId, round);
    return round;
  }

  /**
   * Integrates the tenant's queued entries and signs a checkpoint over them now, whatever the cadence: what a
   * process that executed a run and is about to exit does (`aos run`, `aos approve`), since no sweep of its will
   * sign later. A lock held elsewhere is left to its holder, as in drain.
   */
  async settle(tenantId: string): Promise<void> {
    await this.drain(tenantId);
    try {
      const result = await integrateTenantLog(this.db, this.deps, tenantId, { forceCheckpoint: true });
      if (result.status === "done" && result.signed !== undefined) await this.deps.onCheckpoint?.(result.signed);
    } catch (error) {
      this.deps.log.warn("tenant-log checkpoint failed; the next sequencer signs one", { tenant_id: tenantId, error: toAppError(error).message });
    }
  }

  /** Every tenant with queued entries or a checkpoint due, once. */
  async sweep(): Promise<void> {
    if (this.closed) return;
    try {
      const tenants = new Set([
        ...(await tenantsWithPendingEntries(this.db.pool, 0)),
        ...(await tenantsDueForCheckpoint(this.db.pool, this.deps.cadence.intervalMs)),
      ]);
      await Promise.all([...tenants].map((tenantId) => this.drain(tenantId)));
      if (++this.sweeps % SWEEPS_PER_IDLE === 0) await this.deps.onIdle?.();
    } catch (error) {
      this.deps.log.warn("tenant-log sweep failed; the next one tries again", { error: toAppError(error).message });
    }
  }

  /** Stops sweeping and waits for the rounds in flight. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await Promise.allSettled([...this.rounds.values()]);
  }

  /** Rounds of integration for one tenant until nothing is left to integrate, or the lock is held elsewhere. */
  private async integrateUntilDone(tenantId: string): Promise<void> {
    do {
      this.again.delete(tenantId);
      try {
        const result = await integrateTenantLog(this.db, this.deps, tenantId);
        if (result.status === "busy") return;
        if (result.signed !== undefined) await this.deps.onCheckpoint?.(result.signed);
        // Entries queued by another process while this one held the lock: their kicks found it taken.
        if (result.more || (await hasPendingEntries(this.db.pool, tenantId))) this.again.add(tenantId);
      } catch (error) {
        this.deps.log.warn("tenant-log integration failed; the next sweep tries again", { tenant_id: tenantId, error: toAppError(error).message });
        return;
      }
    } while (this.again.has(tenantId) && !this.closed);
  }
}

/**
 * What integrating a tenant's log needs in this process: the signing key, the checkpoint cadence, and what to do
 * with each new checkpoint (submit it to the configured witnesses, and have the TSA timestamp it).
 */
export function sequencerDeps(db: Database, config: Config, keys: KeyRing, log: Logger): SequencerDeps {
  const cadence = { every: config.tenantCheckpointEvery, intervalMs: config.tenantCheckpointIntervalMs };
  const witnesses = configuredWitnesses(config);
  const tsa = configuredTimestampAuthority(config);
  if (witnesses.length === 0 && tsa === undefined) return { keys, log, cadence };
  return {
    keys,
    log,
    cadence,
    onCheckpoint: async (signed) => {
      await Promise.all([submitToWitnesses(db, config, witnesses, signed, log), tsa && timestampCheckpoint(db, config, tsa, signed, log)]);
    },
    onIdle: () => resubmitPending(db, config, witnesses, log),
  };
}

/** The sequencer a process runs with its configuration. */
export function sequencerFor(db: Database, config: Config, keys: KeyRing, log: Logger): TenantLogSequencer {
  // The sequencer works as the system, whatever scope the worker it runs beside was given (ownerDatabase).
  const owner = ownerDatabase(db);
  return new TenantLogSequencer(owner, sequencerDeps(owner, config, keys, log));
}
