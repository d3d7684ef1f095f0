import { z } from "zod";
import { pingDatabase } from "../../db/queries/ping.js";
import { AppError } from "../../errors.js";
import { loadVerifiers } from "../../trace/key-store.js";
import { encodeVerifierKey } from "../../trace/signed-note.js";
import { route, type Routes } from "../route.js";

/** The public routes: health for orchestrators, metrics for Prometheus, the verification keys anyone may fetch. */
export const systemRoutes: Routes = [
  route({
    method: "GET",
    url: "/healthz",
    summary: "The process is up",
    tag: "system",
    auth: false,
    successStatus: 200,
    response: z.object({ status: z.literal("ok") }).meta({ id: "Health" }),
    async handler() {
      return { status: "ok" };
    },
  }),
  route({
    method: "GET",
    url: "/readyz",
    summary: "The database answers: ready to serve",
    tag: "system",
    auth: false,
    successStatus: 200,
    response: z.object({ status: z.literal("ready"), database: z.enum(["pglite", "server"]) }).meta({ id: "Readiness" }),
    errors: ["DATABASE_UNAVAILABLE"],
    async handler({ deps }) {
      try {
        await pingDatabase(deps.db.pool);
      } catch (error) {
        throw new AppError("DATABASE_UNAVAILABLE", "the database does not answer", { cause: error, details: { retry_after_seconds: 1 } });
      }
      return { status: "ready", database: deps.db.kind };
    },
  }),
  route({
    method: "GET",
    url: "/metrics",
    summary: "Prometheus metrics: runs by status, queue depth, step latency, lease expiries, proof verifications",
    tag: "system",
    auth: false,
    successStatus: 200,
    produces: "text/plain",
    async handler({ deps, reply }) {
      reply.type(deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/keys",
    summary: "The verification keys (C2SP vkey) of this AOS: the signing key's first, then retired ones",
    tag: "proofs",
    auth: false,
    successStatus: 200,
    response: z
      .object({ signing_key: z.string().describe("C2SP vkey"), verification_keys: z.array(z.string()).describe("the signing key's first, then retired ones") })
      .meta({ id: "VerificationKeys" }),
    async handler({ deps }) {
      const signing = encodeVerifierKey(deps.keys.signer);
      const verifiers = loadVerifiers(deps.config).map(encodeVerifierKey);
      return { signing_key: signing, verification_keys: [signing, ...verifiers.filter((vkey) => vkey !== signing)] };
    },
  }),
];
