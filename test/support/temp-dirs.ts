import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// A test file's temporary directories: AOS homes (with signing keys and embedded databases of 40 MB each), plan
// files, lock files, private clusters. Each test file has its own copy of this module, so the list is the file's.
const made: string[] = [];

/**
 * A new directory under the system's temporary directory, named `<prefix>-XXXXXX`, removed after the test file's
 * last hook (test/support/remove-temp-dirs.ts) whether its tests passed or failed.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  made.push(dir);
  return dir;
}

/** Removes every directory `tempDir` made in this file. Retries briefly: a child process may still be closing files. */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}
