import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";

/** Where initdb and pg_ctl were found, and how: the private clusters of the chaos tests and benchmark start from them. */
export type PostgresBinaries =
  | { ok: true; bindir: string; version: string; source: string }
  | { ok: false; reason: string };

const NEEDED = ["initdb", "pg_ctl", "postgres"] as const;

const complete = (dir: string) => NEEDED.every((binary) => existsSync(join(dir, binary)));

function command(binary: string, args: string[]): string | undefined {
  try {
    return execFileSync(binary, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

/** The major version the binaries report (`pg_ctl (PostgreSQL) 15.20` → "15"). */
function versionOf(dir: string): string {
  return /\(PostgreSQL\) (\d+)/.exec(command(join(dir, "pg_ctl"), ["--version"]) ?? "")?.[1] ?? "unknown";
}

/** Debian's layout, one folder per major version: the versions of running clusters first, then the newest. */
function debianCandidates(): { dir: string; source: string }[] {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return [];
  const clusters = (command("pg_lsclusters", ["--no-header"]) ?? "")
    .split("\n")
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((version): version is string => version !== undefined && /^\d+$/.test(version));
  const installed = readdirSync(root).filter((version) => /^\d+$/.test(version)).sort((a, b) => Number(b) - Number(a));
  const ordered = [...new Set([...clusters.filter((version) => installed.includes(version)), ...installed])];
  return ordered.map((version) => ({
    dir: join(root, version, "bin"),
    source: clusters.includes(version) ? `${root}/${version}/bin (the version pg_lsclusters lists)` : `${root}/${version}/bin (installed)`,
  }));
}

/**
 * Finds initdb, pg_ctl and postgres the way the system's own tools do, never in a folder written for one version:
 * AOS_PG_BINDIR when set (an operator's choice, and nothing else is tried), then `pg_config --bindir`, then
 * Debian's `/usr/lib/postgresql/<version>/bin` (the running clusters' version first), then PATH.
 */
export function findPostgresBinaries(env: NodeJS.ProcessEnv = process.env): PostgresBinaries {
  const chosen = env.AOS_PG_BINDIR;
  if (chosen) {
    return complete(chosen)
      ? { ok: true, bindir: chosen, version: versionOf(chosen), source: "AOS_PG_BINDIR" }
      : { ok: false, reason: `AOS_PG_BINDIR=${chosen} lacks one of ${NEEDED.join(", ")}` };
  }
  const tried: string[] = [];
  const fromPgConfig = command("pg_config", ["--bindir"]);
  const candidates = [
    ...(fromPgConfig ? [{ dir: fromPgConfig, source: "pg_config --bindir" }] : []),
    ...debianCandidates(),
    ...(env.PATH ?? "").split(delimiter).filter((dir) => dir !== "").map((dir) => ({ dir, source: "PATH" })),
  ];
  for (const { dir, source } of candidates) {
    if (complete(dir)) return { ok: true, bindir: dir, version: versionOf(dir), source };
    tried.push(dir);
  }
  return {
    ok: false,
    reason:
      `no PostgreSQL server binaries (${NEEDED.join(", ")}) found ` +
      `(pg_config ${fromPgConfig ? `says ${fromPgConfig}` : "not found"}; looked in ${[...new Set(tried)].join(", ") || "nothing"}); ` +
      "install the server package (Debian: apt-get install postgresql) or set AOS_PG_BINDIR",
  };
}
