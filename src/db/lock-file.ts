import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { AppError } from "../errors.js";

/**
 * An exclusive lock on a directory only one process may use: the embedded database's (PGlite takes no lock of its
 * own, and two processes writing one data directory silently lose commits), a witness's state. The second process
 * must fail loudly instead, in its caller's words (LockRefusals).
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

function readOwner(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, "wx", 0o600);
    writeSync(fd, `${process.pid}\n`);
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

const DATABASE_REFUSALS: LockRefusals = {
  inUse: (owner, path) =>
    owner === process.pid
      ? new AppError("DATABASE_LOCKED", `database already open in this process (lock file ${path})`)
      : new AppError("DATABASE_LOCKED", `database in use by pid ${owner} (lock file ${path}): stop that process, or set AOS_HOME to another directory`, {
          details: { pid: owner, lockFile: path },
        }),
  startingUp: (path) => new AppError("DATABASE_LOCKED", `could not take the lock file ${path}: another process is starting up`),
};

export function acquireLockFile(path: string, refusals: LockRefusals = DATABASE_REFUSALS): LockFile {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(path)) {
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
    const owner = readOwner(path);
    if (owner !== undefined && (owner === process.pid || pidIsAlive(owner))) throw refusals.inUse(owner, path);
    // Stale: its owner died without releasing it. Remove it and try once more.
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  throw refusals.startingUp(path);
}
