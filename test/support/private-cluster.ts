import { execFile } from "node:child_process";
import { chownSync, existsSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { tempDir } from "./temp-dirs.js";

const run = promisify(execFile);

export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Whether this machine can run a private cluster: PostgreSQL 15's initdb and pg_ctl, and a postgres user when root. */
export function privateClusterAvailable(): boolean {
  return existsSync(join(PG_BIN, "initdb")) && existsSync(join(PG_BIN, "pg_ctl"));
}

/**
 * A PostgreSQL 15 cluster of one test's own, on a free loopback port with trust auth, so the test can restart it,
 * terminate its backends and fill its connection slots without touching the server other tests share.
 */
export interface PrivateCluster {
  readonly port: number;
  url(database: string, user?: string): string;
  /** pg_ctl restart -m fast: every backend is terminated, the server is down for a moment, then accepts again. */
  restart(): Promise<void>;
  /** The server's log, for a failure message. */
  log(): string;
  destroy(): Promise<void>;
}

/** initdb refuses to run as root: as root, the cluster's files and processes belong to the postgres user. */
function asOwner(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const binary = join(PG_BIN, command);
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
  const dir = tempDir("aos-private-pg");
  if (process.getuid?.() === 0) chownSync(dir, ...ownerIds());
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  const port = await freePort();
  await asOwner("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"]);
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    `-c max_connections=${settings.maxConnections}`,
    "-c superuser_reserved_connections=3",
    // Nothing here needs to survive a crash of the machine.
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
  ].join(" ");
  const pgCtl = (...args: string[]) => asOwner("pg_ctl", ["-D", data, "-w", "-t", "60", ...args]);
  await pgCtl("-l", logFile, "-o", options, "start");
  return {
    port,
    url: (database, user = "postgres") => `postgres://${user}@127.0.0.1:${port}/${database}`,
    restart: async () => {
      await pgCtl("-l", logFile, "-m", "fast", "restart");
    },
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
