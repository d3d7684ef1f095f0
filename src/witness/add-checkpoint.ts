import type { Logger } from "../logger.js";
import { cosignCheckpoint, type WitnessSigner } from "../trace/cosignature.js";
import { emptyTreeRoot, verifyConsistency } from "../trace/merkle.js";
import { type NoteVerifier, openNote } from "../trace/signed-note.js";
import { type CheckpointBody, formatSizeConflict, parseAddCheckpoint, SIZE_CONTENT_TYPE } from "../trace/witness-protocol.js";
import type { WitnessState } from "./witness-state.js";

/** What the witness answers: the status, the body's content type, and the body. */
export interface WitnessAnswer {
  status: number;
  contentType: string;
  body: string;
}

export interface WitnessContext {
  signer: WitnessSigner;
  /** The log keys this witness trusts; their names decide which origins it knows (logKeysForOrigin). */
  logKeys: readonly NoteVerifier[];
  state: WitnessState;
  /** POSIX seconds, for the cosignature's timestamp. */
  now: () => number;
  log: Logger;
}

const TEXT = "text/plain; charset=utf-8";
const TENANT_SEGMENT = "/tenant/";

/**
 * The origins a witness knows (the policy): `<name>/tenant/<tenant>` for each trusted log key named `<name>`, where
 * `<tenant>` is not empty and holds no "/" (the log writes it percent-encoded, and encodeURIComponent writes none).
 * Such a checkpoint must be signed by a trusted key of that name. One log key thus covers every tenant of its log,
 * each tenant's tree its own origin with its own recorded checkpoint, and a log cannot reach another log's origins.
 */
export function logKeysForOrigin(origin: string, logKeys: readonly NoteVerifier[]): NoteVerifier[] {
  return logKeys.filter((key) => {
    const prefix = `${key.name}${TENANT_SEGMENT}`;
    const tenant = origin.startsWith(prefix) ? origin.slice(prefix.length) : "";
    return tenant !== "" && !tenant.includes("/");
  });
}

/**
 * Handles one add-checkpoint body (c2sp.org/tlog-witness), checks in the spec's order:
 *
 *   400  the body is malformed, or its old size is larger than the checkpoint's size (a smaller tree than the
 *        one cosigned always lands here or at 409, so a witness never cosigns a tree that shrank)
 *   404  the origin is not one this witness knows
 *   403  no signature by a trusted key of the origin's log verifies (or one by a trusted key fails)
 *   409  the old size is not the size it last cosigned (0 when never): body `<size>\n`, text/x.tlog.size
 *   409  the checkpoint has the cosigned size but another root: a fork (text/plain, so no client reads it as a size)
 *   422  the consistency proof from the cosigned checkpoint to this one does not verify
 *   200  one cosignature line, after the checkpoint is persisted as the origin's latest
 *
 * Everything from reading the state to recording it runs without awaiting, so no other request for the origin can
 * come between the check and the update (the spec's rollback race).
 */
export function addCheckpoint(body: Uint8Array, ctx: WitnessContext): WitnessAnswer {
  const parsed = parseAddCheckpoint(body);
  if (!parsed.ok) return answer(400, `bad add-checkpoint request: ${parsed.reason}`);
  const { request, checkpoint, text } = parsed;
  const { origin, treeSize, rootHash } = checkpoint;
  const keys = logKeysForOrigin(origin, ctx.logKeys);
  if (keys.length === 0) {
    const known = [...new Set(ctx.logKeys.map((key) => `${key.name}${TENANT_SEGMENT}<tenant>`))].join(", ");
    return answer(404, `unknown origin ${JSON.stringify(origin)}: this witness cosigns only ${known}`);
  }
  const opened = openNote(request.note, keys);
  if (!opened.ok) return answer(403, `the checkpoint is not signed by a log key this witness trusts for its origin: ${opened.reason}`);
  const recorded = ctx.state.latest(origin) ?? { origin, treeSize: 0, rootHash: emptyTreeRoot() };
  if (request.oldSize !== recorded.treeSize) {
    return { status: 409, contentType: SIZE_CONTENT_TYPE, body: formatSizeConflict(recorded.treeSize) };
  }
  if (treeSize === recorded.treeSize && !rootHash.equals(recorded.rootHash)) {
    warnFork(ctx, "the same size with another root", recorded, checkpoint);
    return answer(409, `refused: this witness cosigned size ${treeSize} of ${origin} with root ${recorded.rootHash.toString("base64")}, not ${rootHash.toString("base64")}: the log has forked`);
  }
  if (!verifyConsistency(recorded.treeSize, treeSize, recorded.rootHash, rootHash, request.consistencyProof)) {
    warnFork(ctx, "a consistency proof that does not verify", recorded, checkpoint);
    return answer(422, `refused: the consistency proof from size ${recorded.treeSize} to ${treeSize} does not verify against the checkpoint this witness cosigned`);
  }
  if (treeSize !== recorded.treeSize) ctx.state.record(request.note, checkpoint);
  ctx.log.info("cosigned", { origin, tree_size: treeSize });
  return { status: 200, contentType: TEXT, body: cosignCheckpoint(text, ctx.signer, ctx.now()) };
}

/** A validly signed checkpoint that does not extend the cosigned one is evidence against the log: say so. */
function warnFork(ctx: WitnessContext, what: string, recorded: CheckpointBody, offered: CheckpointBody): void {
  ctx.log.warn(`refused a signed checkpoint: ${what}`, {
    origin: offered.origin,
    cosigned_size: recorded.treeSize,
    cosigned_root: recorded.rootHash.toString("base64"),
    offered_size: offered.treeSize,
    offered_root: offered.rootHash.toString("base64"),
  });
}

function answer(status: number, message: string): WitnessAnswer {
  return { status, contentType: TEXT, body: `${message}\n` };
}
