import { execFile } from "node:child_process";
import { chownSync, existsSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { findPostgresBinaries } from "./postgres-binaries.js";
import { serverOnly, type ServerOnlyOptions } from "./server-only.js";
import { tempDir } from "./temp-dirs.js";

const run = promisify(execFile);

const binaries = findPostgresBinaries();

/**
 * Why this machine cannot start a private cluster (no server binaries found), or undefined when it can. In CI
 * (CI=true) it is always undefined: the tests then run, and startPrivateCluster fails with the reason, so a
 * missing binary is a failure there, never a skip.
 */
export function privateClusterUnavailable(): string | undefined {
  if (binaries.ok || process.env.CI === "true") return undefined;
  return binaries.reason;
}

/** describe() options for tests on a private cluster: tagged server-only, skipped with the reason outside CI. */
export function onPrivateCluster(): ServerOnlyOptions {
  return serverOnly(privateClusterUnavailable());
}

export type StopMode = "fast" | "immediate";

/**
 * A PostgreSQL cluster of one test's own (the version the system's tools point at), on a free loopback port with
 * trust auth, so the test can restart it, terminate its backends and fill its connection slots without touching
 * the server other tests share.
 */
export interface PrivateCluster {
  readonly port: number;
  readonly version: string;
  url(database: string, user?: string): string;
  /**
   * pg_ctl restart: every backend is terminated, the server is down for a moment, then accepts again. `fast` shuts
   * down cleanly; `immediate` is a crash (no checkpoint), and the server replays its WAL on the way up.
   */
  restart(mode?: StopMode): Promise<void>;
  stop(mode: StopMode): Promise<void>;
  /** Returns once the server accepts connections again (pg_ctl -w). */
  start(): Promise<void>;
  /** The server's log, for a failure message. */
  log(): string;
  destroy(): Promise<void>;
}

/** initdb refuses to run as root: as root, the cluster's files and processes belong to the postgres user. */
function asOwner(bindir: string, command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const binary = join(bindir, command);
  if (process.getuid?.() === 0) return run("runuser", ["-u", "postgres", "--", binary, ...args]);
  return run(binary, args);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export async function startPrivateCluster(settings: { maxConnections: number }): Promise<PrivateCluster> {
  if (!binaries.ok) throw new Error(`cannot start a private PostgreSQL cluster: ${binaries.reason}`);
  const { bindir, version } = binaries;
  const dir = tempDir("aos-private-pg");
  if (process.getuid?.() === 0) chownSync(dir, ...ownerIds());
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  const port = await freePort();
  await asOwner(bindir, "initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"]);
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    `-c max_connections=${settings.maxConnections}`,
    "-c superuser_reserved_connections=3",
    // Nothing here needs to survive a crash of the machine, but everything must survive a crash of the server
    // (restart -m immediate): a commit is acknowledged once its WAL is written, so synchronous_commit stays on.
    // With it off, such a crash lost runs createRun had returned (docs/workers.md, Testing).
    "-c fsync=off",
    "-c full_page_writes=off",
  ].join(" ");
  const pgCtl = (...args: string[]) => asOwner(bindir, "pg_ctl", ["-D", data, "-w", "-t", "60", ...args]);
  const start = async () => {
    await pgCtl("-l", logFile, "-o", options, "start");
  };
  await start();
  return {
    port,
    version,
    url: (database, user = "postgres") => `postgres://${user}@127.0.0.1:${port}/${database}`,
    restart: async (mode = "fast") => {
      await pgCtl("-l", logFile, "-m", mode, "restart");
    },
    stop: async (mode) => {
      await pgCtl("-m", mode, "stop");
    },
    start,
    log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
    destroy: async () => {
      await pgCtl("-m", "immediate", "stop").catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function ownerIds(): [number, number] {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith("postgres:"));
  const fields = line?.split(":");
  if (fields === undefined) throw new Error("there is no postgres user to own the private cluster");
  return [Number(fields[2]), Number(fields[3])];
}
