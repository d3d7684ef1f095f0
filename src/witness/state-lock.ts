import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { AppError } from "../errors.js";

/**
 * One witness process per state directory. Two processes cosigning from one directory would each check a request
 * against its own memory of the latest checkpoint, and could both cosign, one of them a fork of what the other
 * cosigned; so the second one must not start. The lock is a file created with O_EXCL holding the owner's pid; a lock
 * whose pid is no longer alive (its owner was SIGKILLed) is stale and is taken over. Pid reuse after a crash can
 * make a stale lock look live: the message names the pid and the file to check.
 */
export interface StateLock {
  release(): void;
}

export function acquireStateLock(path: string): StateLock {
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(path)) {
      const release = () => {
        if (readOwner(path) === process.pid) unlinkSync(path);
      };
      process.once("exit", release);
      return {
        release() {
          process.removeListener("exit", release);
          release();
        },
      };
    }
    const owner = readOwner(path);
    if (owner !== undefined && pidIsAlive(owner)) {
      const who = owner === process.pid ? "this process" : `pid ${owner}`;
      throw new AppError("WITNESS_STATE_LOCKED", `the witness state directory is in use by ${who} (lock file ${path}): stop that witness, or give this one its own state directory`, {
        details: { pid: owner, lock_file: path },
      });
    }
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  throw new AppError("WITNESS_STATE_LOCKED", `could not take the lock file ${path}: another witness is starting up on this state directory`);
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

function readOwner(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
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
