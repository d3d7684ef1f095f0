import { readFileSync } from "node:fs";
import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { insertCheckpointTimestamp } from "../db/queries/tenant-checkpoints.js";
import { AppError, toAppError } from "../errors.js";
import type { Logger } from "../logger.js";
import { readNote } from "../trace/signed-note.js";
import { verifyTimestampToken } from "../trace/timestamp-token.js";
import type { SignedCheckpoint } from "./integrate.js";
import { requestTimestamp } from "./timestamp-client.js";

export interface TimestampAuthority {
  url: string;
  /** The trusted certificates (PEM) its tokens are checked against before they are kept. */
  certificates: string[];
}

/** AOS_TSA_URL with its trusted certificates read once; a TSA without certificates to check it by is refused at start. */
export function configuredTimestampAuthority(config: Config): TimestampAuthority | undefined {
  if (config.tsaUrl === undefined) return undefined;
  if (config.tsaCertificateFiles.length === 0) {
    throw new AppError("USAGE", "AOS_TSA_URL is set but AOS_TSA_CERTS is not: name the PEM file(s) of the TSA's certificate or CA its tokens are checked against");
  }
  const certificates = config.tsaCertificateFiles.map((path) => {
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      throw new AppError("USAGE", `AOS_TSA_CERTS: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "unreadable"})`);
    }
  });
  return { url: config.tsaUrl, certificates };
}

/**
 * Asks the TSA for a token over a new tenant checkpoint's body (docs/timestamps.md) and keeps it once it verifies
 * against the operator's trusted certificates. A TSA that is down costs the checkpoint its timestamp, never the log
 * its progress.
 */
export async function timestampCheckpoint(db: Database, config: Config, tsa: TimestampAuthority, signed: SignedCheckpoint, log: Logger): Promise<void> {
  const note = readNote(signed.note);
  if (!note.ok) return;
  const body = Buffer.from(note.text, "utf8");
  try {
    const { token } = await requestTimestamp(tsa.url, body, { egress: { openings: config.egressOpenings, narrowTo: [] }, timeoutMs: config.tsaTimeoutMs });
    const checked = verifyTimestampToken(token, { message: body, trustedCertificates: tsa.certificates });
    if (!checked.ok) {
      log.warn("the TSA's token does not verify against AOS_TSA_CERTS; not kept", { tenant_id: signed.tenantId, tree_size: signed.treeSize, reason: checked.reason });
      return;
    }
    await insertCheckpointTimestamp(db.pool, signed.tenantId, signed.treeSize, token);
  } catch (error) {
    log.warn("no timestamp for a tenant checkpoint: the TSA could not be reached", { tenant_id: signed.tenantId, tree_size: signed.treeSize, error: toAppError(error).message });
  }
}
