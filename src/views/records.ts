import type { EvidenceView, IncidentView } from "../db/queries/run-records.js";
import { isoTime } from "../glossary.js";

/** An incident as `aos incidents --json` prints it and the API returns it. */
export function incidentJson(incident: IncidentView): Record<string, unknown> {
  return {
    id: incident.id,
    run_id: incident.runId,
    outcome: incident.outcome,
    severity: incident.severity,
    status: incident.status,
    category: incident.category,
    title: incident.title,
    error_code: incident.errorCode,
    error_message: incident.errorMessage,
    created_at: isoTime(incident.createdAt),
  };
}

/** A run's integrity evidence with its policy-evaluation records, as `aos evidence --json` and the API give it. */
export function evidenceJson(evidence: EvidenceView): Record<string, unknown> {
  return {
    id: evidence.id,
    run_id: evidence.runId,
    integrity_status: evidence.status,
    integrity_score: evidence.score,
    expected_artifacts: evidence.expected,
    observed_artifacts: evidence.observed,
    missing_artifacts: evidence.missing,
    missing_reasons: evidence.missingReasons,
    verification_timestamp: isoTime(evidence.verifiedAt),
    policy_records: evidence.policyRecords.map((record) => ({
      kind: record.kind,
      policy_id: record.policyId,
      outcome: record.outcome,
      step_seq: record.stepSeq,
      reason: record.reason,
    })),
  };
}
