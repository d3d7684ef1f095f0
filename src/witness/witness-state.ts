import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../errors.js";
import { readNote } from "../trace/signed-note.js";
import { type CheckpointBody, parseCheckpointBody } from "../trace/witness-protocol.js";
import { acquireStateLock, type StateLock } from "./state-lock.js";

/**
 * What a witness remembers: per origin, the latest checkpoint it cosigned, kept on disk so a restart cannot make it
 * forget a tree and cosign a fork of it. The state directory holds
 *
 *   witness.lock                     the owner's pid (state-lock.ts): one process per directory
 *   checkpoints/<sha256(origin)>     the signed checkpoint note last cosigned for that origin, as the log sent it
 *
 * A file is replaced atomically (written to a temporary file, fsynced, renamed over the old one, the directory
 * fsynced), so after a crash it holds the old checkpoint or the new one, never a mix. Every file is read at start
 * and kept in memory; one that does not read back stops the start (WITNESS_STATE_INVALID) instead of being taken
 * as "never cosigned", which would let the log begin that origin again from any tree. Writes are synchronous, so
 * the caller can check a request against `latest` and `record` it with no other request in between.
 */
export class WitnessState {
  private readonly latestByOrigin = new Map<string, CheckpointBody>();

  private constructor(
    private readonly dir: string,
    private readonly lock: StateLock,
  ) {}

  /** Takes the directory's lock (WITNESS_STATE_LOCKED when another witness holds it) and reads every checkpoint. */
  static open(stateDir: string): WitnessState {
    const dir = join(stateDir, "checkpoints");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const state = new WitnessState(dir, acquireStateLock(join(stateDir, "witness.lock")));
    try {
      state.load();
    } catch (error) {
      state.close();
      throw error;
    }
    return state;
  }

  latest(origin: string): CheckpointBody | undefined {
    return this.latestByOrigin.get(origin);
  }

  /** Persists `note` (whose body is `checkpoint`) as the origin's latest cosigned checkpoint, then remembers it. */
  record(note: string, checkpoint: CheckpointBody): void {
    const path = join(this.dir, fileNameFor(checkpoint.origin));
    const temporary = `${path}.${process.pid}.tmp`;
    const fd = openSync(temporary, "w", 0o600);
    try {
      writeSync(fd, note);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
    syncDirectory(this.dir);
    this.latestByOrigin.set(checkpoint.origin, { ...checkpoint, rootHash: Buffer.from(checkpoint.rootHash) });
  }

  close(): void {
    this.lock.release();
  }

  private load(): void {
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      // A temporary file is a write that crashed before its rename: the checkpoint it held was never answered.
      if (name.endsWith(".tmp")) {
        unlinkSync(path);
        continue;
      }
      const checkpoint = readCheckpoint(path);
      if (fileNameFor(checkpoint.origin) !== name) invalid(path, `it holds the checkpoint of origin "${checkpoint.origin}", which is not the origin its name is the hash of`);
      this.latestByOrigin.set(checkpoint.origin, checkpoint);
    }
  }
}

function readCheckpoint(path: string): CheckpointBody {
  const note = readNote(readFileSync(path));
  if (!note.ok) invalid(path, `it is not a signed note (${note.reason})`);
  const parsed = parseCheckpointBody(note.text);
  if (!parsed.ok) invalid(path, `it is not a checkpoint (${parsed.reason})`);
  return parsed.checkpoint;
}

function invalid(path: string, why: string): never {
  throw new AppError("WITNESS_STATE_INVALID", `the witness state file ${path} does not read back: ${why}`, { details: { file: path } });
}

/** Origins are arbitrary text; their hash is a file name on every file system. */
function fileNameFor(origin: string): string {
  return createHash("sha256").update(origin, "utf8").digest("hex");
}

/** A rename is durable only once its directory's entry is on disk. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
