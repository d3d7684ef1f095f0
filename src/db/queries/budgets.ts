import { type Database, type Queryable, withTransaction } from "../database.js";

export interface SpendReservation {
  agentId: string;
  tenantId: string;
  /** The UTC day the spend counts against, `YYYY-MM-DD`; the step's settle uses the same day. */
  day: string;
  cents: number;
  /** The tenant's daily cap from its policy, or null for none. */
  tenantDailyCapCents: number | null;
}

export type Reservation =
  | { ok: true }
  | { ok: false; limit: "agent_budget" | "tenant_daily_cap"; spentCents: number; limitCents: number };

interface ReservationRow {
  agent_reserved: boolean;
  day_reserved: boolean;
  agent_spent: string;
  agent_budget: string;
  day_spent: string | null;
}

/** Thrown inside the transaction to undo the agent's charge when the tenant's day is full. */
class DayFull {
  constructor(readonly reservation: Reservation) {}
}

/**
 * Reserves a step's estimated cost from the agent's budget and the tenant's day, both or neither. Each charge is a
 * conditional relative update (spent + estimate stays within the limit), so concurrent runs can never overspend by
 * reserving at once; the one transaction undoes the agent's charge when the tenant's day has no room. The step's
 * record later swaps the estimate for the actual cost on both (settle, in the statement that records the step).
 */
export async function reserveSpend(db: Database, reservation: SpendReservation): Promise<Reservation> {
  try {
    return await withTransaction(db, async (client) => {
      const row = await reserveBoth(client, reservation);
      if (!row.agent_reserved) {
        return { ok: false, limit: "agent_budget", spentCents: Number(row.agent_spent), limitCents: Number(row.agent_budget) };
      }
      if (!row.day_reserved) {
        throw new DayFull({
          ok: false,
          limit: "tenant_daily_cap",
          spentCents: Number(row.day_spent ?? 0),
          limitCents: reservation.tenantDailyCapCents ?? 0,
        });
      }
      return { ok: true };
    });
  } catch (error) {
    if (error instanceof DayFull) return error.reservation;
    throw error;
  }
}

async function reserveBoth(db: Queryable, reservation: SpendReservation): Promise<ReservationRow> {
  const { rows } = await db.query<ReservationRow>(
    `with agent as (
  update agents
  set spent_cents = spent_cents + $2::bigint
  where id = $1::text and (budget_cents is null or spent_cents + $2::bigint <= budget_cents)
  returning id
),
day as (
  insert into tenant_daily_spend as spend (tenant_id, day, spent_cents)
  select $3::text, $4::date, $2::bigint
  where exists (select 1 from agent) and ($5::bigint is null or $2::bigint <= $5::bigint)
  on conflict (tenant_id, day) do update
  set spent_cents = spend.spent_cents + excluded.spent_cents, updated_at = now()
  where $5::bigint is null or spend.spent_cents + excluded.spent_cents <= $5::bigint
  returning spent_cents
)
select exists (select 1 from agent) as agent_reserved,
  exists (select 1 from day) as day_reserved,
  a.spent_cents as agent_spent,
  coalesce(a.budget_cents, 0) as agent_budget,
  (select spent_cents from tenant_daily_spend where tenant_id = $3::text and day = $4::date) as day_spent
from agents a
where a.id = $1::text`,
    [reservation.agentId, reservation.cents, reservation.tenantId, reservation.day, reservation.tenantDailyCapCents],
  );
  const row = rows[0];
  if (row === undefined) throw new Error(`agent ${reservation.agentId} vanished while reserving its budget`);
  return row;
}

/** What a tenant has spent (settled and reserved) on a UTC day. */
export async function tenantDailySpend(db: Queryable, tenantId: string, day: string): Promise<number> {
  const { rows } = await db.query<{ spent_cents: string }>(
    `select spent_cents from tenant_daily_spend where tenant_id = $1::text and day = $2::date`,
    [tenantId, day],
  );
  return Number(rows[0]?.spent_cents ?? 0);
}

/** The UTC day of a moment, as the spend ledger keys it. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

export interface PlanningCharge {
  runId: string;
  agentId: string;
  tenantId: string;
  /** The UTC day, `YYYY-MM-DD`, of the tenant's ledger the charge counts against. */
  day: string;
  cents: number;
}

/**
 * Charges what planning a run with a model cost to its agent, the tenant's day and the run itself; returns the run's
 * cost after it. Unconditional, unlike a reservation: the model has already been called, so the money is spent
 * whatever remains (run creation refused to call it once nothing did). Called in the transaction that inserts the
 * run. The day reads `agent`, so the agent row is locked before the day row, in the order reserving locks them.
 */
export async function chargePlanning(db: Queryable, charge: PlanningCharge): Promise<number> {
  const { rows } = await db.query<{ cost_cents: string }>(
    `with agent as (
  update agents
  set spent_cents = spent_cents + $2::bigint, updated_at = now()
  where id = $1::text
  returning id
),
day as (
  insert into tenant_daily_spend as spend (tenant_id, day, spent_cents)
  select $3::text, $4::date, $2::bigint
  from agent
  on conflict (tenant_id, day) do update
  set spent_cents = spend.spent_cents + excluded.spent_cents, updated_at = now()
  returning tenant_id
)
update runs
set cost_cents = cost_cents + $2::bigint
where id = $5::text
returning cost_cents`,
    [charge.agentId, charge.cents, charge.tenantId, charge.day, charge.runId],
  );
  const row = rows[0];
  if (row === undefined) throw new Error(`run ${charge.runId} vanished while its planning was charged`);
  return Number(row.cost_cents);
}
