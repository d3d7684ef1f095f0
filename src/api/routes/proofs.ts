import { z } from "zod";
import { findEvidence, listIncidents } from "../../db/queries/run-records.js";
import { AppError } from "../../errors.js";
import { exportProofBundle, getRunProof, proveStep } from "../../services/proofs.js";
import { getRun } from "../../services/runs.js";
import { evidenceJson, incidentJson } from "../../views/records.js";
import { route, type Routes } from "../route.js";
import { evidence, incident, proofBundle, runProof } from "../run-schemas.js";
import { incidentsQuery, runParams, stepParams } from "../schemas.js";

export const proofRoutes: Routes = [
  route({
    method: "GET",
    url: "/api/v1/runs/:run_id/proof",
    summary: "Verify a run from the stored rows and its signed checkpoint: VERIFIED, TAMPERED, INCOMPLETE or UNSUPPORTED",
    tag: "proofs",
    auth: true,
    params: runParams,
    successStatus: 200,
    response: runProof,
    errors: ["RUN_NOT_FOUND"],
    async handler({ params, tenant, deps }) {
      // The service answers UNSUPPORTED for a run it cannot see (as upstream did); over HTTP that is a 404, so a
      // proof says nothing about whether another tenant's run exists.
      await getRun(tenant.db, tenant.tenantId, params.run_id);
      const proof = await getRunProof(tenant.db, deps.config, tenant.tenantId, params.run_id);
      deps.metrics.proofVerifications.inc({ status: proof.verification_status });
      return proof;
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runs/:run_id/proof/bundle",
    summary: "The run's proof bundle: verify it offline with `aos verify` or the SDK",
    tag: "proofs",
    auth: true,
    params: runParams,
    successStatus: 200,
    response: proofBundle,
    errors: ["RUN_NOT_FOUND", "TRACE_TAMPERED"],
    // A finished run not yet under a tenant checkpoint gets one signed first, by the system, outside any read session.
    oneReadTransaction: false,
    async handler({ params, tenant, deps }) {
      return exportProofBundle(tenant.db, deps.config, tenant.tenantId, params.run_id);
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runs/:run_id/steps/:seq/inclusion-proof",
    summary: "A C2SP tlog-proof that one step is in the run's signed trace, revealing no other step",
    tag: "proofs",
    auth: true,
    params: stepParams,
    successStatus: 200,
    produces: "text/plain",
    // VALIDATION_ERROR (implied) also covers a run that does not verify, or a pruned v1 step.
    errors: ["RUN_NOT_FOUND", "STEP_NOT_FOUND", "TRACE_TAMPERED"],
    async handler({ params, tenant, deps, reply }) {
      const proof = await proveStep(tenant.db, deps.config, tenant.tenantId, params.run_id, params.seq);
      reply.type("text/plain; charset=utf-8");
      return proof;
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runs/:run_id/evidence",
    summary: "A finished run's integrity evidence and policy-evaluation records",
    tag: "records",
    auth: true,
    params: runParams,
    successStatus: 200,
    response: evidence,
    errors: ["RUN_NOT_FOUND"],
    async handler({ params, tenant }) {
      // An unknown run (or another tenant's) is "Run not found", as on every run route; a run of this tenant has none yet.
      await getRun(tenant.db, tenant.tenantId, params.run_id);
      const evidence = await findEvidence(tenant.db.pool, tenant.tenantId, params.run_id);
      if (evidence === undefined) {
        throw new AppError("RUN_NOT_FOUND", `No evidence for run ${params.run_id}: it has not finished`, { details: { run_id: params.run_id } });
      }
      return evidenceJson(evidence);
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/incidents",
    summary: "The tenant's incidents, newest first: one per finished run",
    tag: "records",
    auth: true,
    query: incidentsQuery,
    successStatus: 200,
    response: z.array(incident),
    async handler({ query, tenant }) {
      return (await listIncidents(tenant.db.pool, tenant.tenantId, query.limit, query.run_id)).map(incidentJson);
    },
  }),
];
