import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireLockFile, tryAcquireLockFile } from "../src/db/lock-file.js";
import { tempDir } from "./support/temp-dirs.js";

describe("the embedded database's lock file", () => {
  it("refuses a second holder with the owner's pid, and frees the lock on release", () => {
    const path = join(tempDir("aos-lock"), "aos.lock");
    const lock = acquireLockFile(path);
    expect(() => acquireLockFile(path)).toThrow(/already open in this process/);
    lock.release();
    expect(existsSync(path)).toBe(false);
    acquireLockFile(path).release();
  });

  it("tells another process the database is in use by pid N", async () => {
    const path = join(tempDir("aos-lock"), "aos.lock");
    const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    try {
      writeFileSync(path, `${holder.pid}\n`);
      expect(() => acquireLockFile(path)).toThrow(`database in use by pid ${holder.pid}`);
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("takes over a stale lock whose owner died", async () => {
    const path = join(tempDir("aos-lock"), "aos.lock");
    const dead = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    await new Promise((resolve) => dead.on("exit", resolve));
    writeFileSync(path, `${dead.pid}\n`);
    const lock = acquireLockFile(path);
    lock.release();
  });

  it("says who holds it and whether that holder shares, and an older AOS's lock (a pid alone) shares nothing", async () => {
    const path = join(tempDir("aos-lock"), "aos.lock");
    const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    try {
      writeFileSync(path, `${holder.pid}\nshares: aos.owner`);
      expect(tryAcquireLockFile(path)).toEqual({ heldBy: holder.pid, mark: "shares: aos.owner" });
      writeFileSync(path, `${holder.pid}\n`);
      expect(tryAcquireLockFile(path)).toEqual({ heldBy: holder.pid, mark: "" });
    } finally {
      holder.kill("SIGKILL");
    }
    await new Promise((resolve) => holder.on("exit", resolve));
    const mine = tryAcquireLockFile(path, "shares: aos.owner");
    expect("release" in mine).toBe(true);
    if ("release" in mine) mine.release();
  });
});
