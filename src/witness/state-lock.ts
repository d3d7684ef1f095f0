import { acquireLockFile, type LockFile } from "../db/lock-file.js";
import { AppError } from "../errors.js";

/**
 * One witness process per state directory. Two processes cosigning from one directory would each check a request
 * against its own memory of the latest checkpoint, and could both cosign, one of them a fork of what the other
 * cosigned; so the second one must not start. The lock is the embedded database's kind (db/lock-file.ts: a file
 * created with O_EXCL holding the owner's pid, taken over when that pid is dead). Pid reuse after a crash can make a
 * stale lock look live: the message names the pid and the file to check.
 */
export type StateLock = LockFile;

export function acquireStateLock(path: string): StateLock {
  return acquireLockFile(path, {
    inUse: (owner, lockFile) => {
      const who = owner === process.pid ? "this process" : `pid ${owner}`;
      return new AppError("WITNESS_STATE_LOCKED", `the witness state directory is in use by ${who} (lock file ${lockFile}): stop that witness, or give this one its own state directory`, {
        details: { pid: owner, lock_file: lockFile },
      });
    },
    startingUp: (lockFile) => new AppError("WITNESS_STATE_LOCKED", `could not take the lock file ${lockFile}: another witness is starting up on this state directory`),
  });
}
