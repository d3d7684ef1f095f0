import { closeSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { percentiles } from "./stats.js";

const FSYNC_OPS = 200;

/** What the figures depend on (anchors.md §6.3 "Benchmark protocol"). */
export interface MachineFacts {
  cpu_model: string;
  cpu_count: number;
  total_memory_gib: number;
  os: string;
  node: string;
  pglite: string;
  /** 1, 5 and 15 minute load averages when the suite started: above the core count, others were busy too. */
  load_average: number[];
  fdatasync: FsyncTiming;
}

export interface FsyncTiming {
  directory: string;
  ops: number;
  /** One 512-byte overwrite plus fdatasync, in microseconds. */
  p50_us: number;
  p95_us: number;
  mean_us: number;
}

export interface ServerFacts {
  location: string;
  server_version: string;
  synchronous_commit: string;
  fsync: string;
  wal_sync_method: string;
  /** A server on this machine competes with the benchmark process for the same cores. */
  shares_machine: boolean;
}

export function machineFacts(root: string): MachineFacts {
  const cpuList = cpus();
  return {
    cpu_model: cpuList[0]?.model.trim() ?? "unknown",
    cpu_count: cpuList.length,
    total_memory_gib: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${process.platform} ${release()}`,
    node: process.version,
    pglite: packageVersion(join(root, "node_modules/@electric-sql/pglite/package.json")),
    load_average: loadAverage(),
    fdatasync: timeFdatasync(),
  };
}

export function loadAverage(): number[] {
  return loadavg().map((load) => Math.round(load * 100) / 100);
}

function packageVersion(path: string): string {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/**
 * The disk's durable-write floor, which bounds every commit: each op overwrites the same 512 bytes and waits for
 * fdatasync, as PostgreSQL's WAL flush does at commit. The temp directory may sit on another disk than the
 * server's data directory; the directory is recorded so a reader can tell.
 */
export function timeFdatasync(ops = FSYNC_OPS): FsyncTiming {
  const directory = mkdtempSync(join(tmpdir(), "aos-bench-fsync-"));
  const fd = openSync(join(directory, "probe"), "w");
  const block = Buffer.alloc(512, 7);
  const samples: number[] = [];
  try {
    for (let i = 0; i < ops + 10; i++) {
      const start = performance.now();
      writeSync(fd, block, 0, block.length, 0);
      fdatasyncSync(fd);
      if (i >= 10) samples.push((performance.now() - start) * 1000);
    }
  } finally {
    closeSync(fd);
    rmSync(directory, { recursive: true, force: true });
  }
  const summary = percentiles(samples);
  return { directory: tmpdir(), ops, p50_us: summary.p50, p95_us: summary.p95, mean_us: summary.mean };
}

export async function serverFacts(url: string, location: string): Promise<ServerFacts> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const show = async (setting: string) =>
      (await client.query<{ value: string }>("select current_setting($1::text) as value", [setting])).rows[0]?.value ?? "";
    const host = new URL(url).hostname;
    return {
      location,
      server_version: await show("server_version"),
      synchronous_commit: await show("synchronous_commit"),
      fsync: await show("fsync"),
      wal_sync_method: await show("wal_sync_method"),
      shares_machine: host === "" || host === "localhost" || host === "127.0.0.1" || host === "[::1]",
    };
  } finally {
    await client.end();
  }
}
