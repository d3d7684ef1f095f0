import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { AppError } from "../errors.js";

/**
 * An exclusive lock on a directory only one process may use: the embedded database's (PGlite takes no lock of its
 * own, and two processes writing one data directory silently lose commits), a witness's state. The second process
 * must not open the directory: it fails loudly, in its caller's words (LockRefusals), or, for the embedded
 * database, reaches it through the lock's holder (src/db/shared-session.ts).
 * The lock is a file created with O_EXCL holding the owner's pid. A lock whose pid is no longer alive (the
 * owner was SIGKILLed) is stale and is taken over.
 */
export interface LockFile {
  readonly path: string;
  release(): void;
}

function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** What a lock file says: its owner's pid, and the words after it (SHARED_LOCK_MARK for a sharing owner). */
function readLock(path: string): { pid: number; mark: string } | undefined {
  try {
    const [first = "", mark = ""] = readFileSync(path, "utf8").split("\n");
    const pid = Number.parseInt(first.trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? { pid, mark: mark.trim() } : undefined;
  } catch {
    return undefined;
  }
}

function readOwner(path: string): number | undefined {
  return readLock(path)?.pid;
}

function tryCreate(path: string, mark: string): boolean {
  try {
    const fd = openSync(path, "wx", 0o600);
    writeSync(fd, `${process.pid}\n${mark}`);
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/** What a lock held elsewhere is reported as: the owner alive (another process, or this one), or a race at start. */
export interface LockRefusals {
  inUse(owner: number, path: string): AppError;
  startingUp(path: string): AppError;
}

/** The embedded database's refusals: only an owner that does not share (src/db/shared-session.ts) meets them. */
export const DATABASE_REFUSALS: LockRefusals = {
  inUse: (owner, path) =>
    owner === process.pid
      ? new AppError("DATABASE_LOCKED", `database already open in this process (lock file ${path})`)
      : new AppError("DATABASE_LOCKED", `database in use by pid ${owner} (lock file ${path}), which does not share it (an older AOS): stop that process, or set AOS_HOME to another directory`, {
          details: { pid: owner, lockFile: path },
        }),
  startingUp: (path) => new AppError("DATABASE_LOCKED", `could not take the lock file ${path}: another process is starting up`),
};

export function acquireLockFile(path: string, refusals: LockRefusals = DATABASE_REFUSALS): LockFile {
  const outcome = tryAcquireLockFile(path);
  if ("release" in outcome) return outcome;
  if (outcome.heldBy === undefined) throw refusals.startingUp(path);
  throw refusals.inUse(outcome.heldBy, path);
}

/** A lock held by a live process: its pid and mark; no pid when it changed hands twice while we looked. */
export interface HeldLock {
  heldBy: number | undefined;
  mark: string;
}

/**
 * Takes the lock, or says who holds it. `mark` is written on the lock's second line for whoever finds it held:
 * the embedded database's owner writes SHARED_LOCK_MARK (it publishes an owner file other processes connect
 * to, src/db/owner-socket.ts); a lock without it is an AOS that does not share.
 */
export function tryAcquireLockFile(path: string, mark = ""): LockFile | HeldLock {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(path, mark)) {
      const release = () => {
        if (readOwner(path) === process.pid) unlinkSync(path);
      };
      const onExit = () => release();
      process.once("exit", onExit);
      return {
        path,
        release() {
          process.removeListener("exit", onExit);
          release();
        },
      };
    }
    const held = readLock(path);
    if (held !== undefined && (held.pid === process.pid || pidIsAlive(held.pid))) return { heldBy: held.pid, mark: held.mark };
    // Stale: its owner died without releasing it. Remove it and try once more.
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return { heldBy: undefined, mark: "" };
}
