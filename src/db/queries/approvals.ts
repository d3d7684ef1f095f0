import type { Queryable } from "../database.js";

export interface Approval {
  stepIndex: number;
  decision: "approved" | "rejected";
  decidedBy: string;
  decidedAt: Date;
  /** Made by the process that recorded it, with a key that never enters the database; checked before it is used. */
  attestation: string | null;
}

export async function findApproval(db: Queryable, runId: string, stepIndex: number): Promise<Approval | undefined> {
  const { rows } = await db.query<{ step_index: number; decision: Approval["decision"]; decided_by: string; decided_at: Date; attestation: string | null }>(
    `select step_index, decision, decided_by, decided_at, attestation
from run_approvals
where run_id = $1::text and step_index = $2::int`,
    [runId, stepIndex],
  );
  const row = rows[0];
  return row && { stepIndex: row.step_index, decision: row.decision, decidedBy: row.decided_by, decidedAt: row.decided_at, attestation: row.attestation };
}

export async function insertApproval(db: Queryable, approval: Approval & { runId: string; tenantId: string }): Promise<void> {
  await db.query(
    `insert into run_approvals (run_id, step_index, tenant_id, decision, decided_by, decided_at, attestation)
values ($1::text, $2::int, $3::text, $4::text, $5::text, $6::timestamptz, $7::text)`,
    [approval.runId, approval.stepIndex, approval.tenantId, approval.decision, approval.decidedBy, approval.decidedAt, approval.attestation],
  );
}
