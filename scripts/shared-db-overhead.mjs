// What sharing the embedded database costs one simple query: `select 1` timed in the process that owns PGlite
// (through its session arbiter) and in another process (over the owner socket). Built code: `npm run build` first.
//
//   node scripts/shared-db-overhead.mjs [queries]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openEmbeddedDatabase } from "../dist/db/open-database.js";

const [, script, modeOrCount = "2000", homeArg] = process.argv;

async function timeQueries(db, count) {
  for (let i = 0; i < 200; i++) await db.pool.query("select 1 as one"); // warm-up
  const times = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await db.pool.query("select 1 as one");
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(3);
  return { role: db.sharing.role, queries: count, p50_ms: at(0.5), p95_ms: at(0.95), mean_ms: (times.reduce((a, b) => a + b, 0) / count).toFixed(3) };
}

if (modeOrCount === "remote") {
  const db = await openEmbeddedDatabase(join(homeArg, "pgdata"), join(homeArg, "aos.lock"));
  process.stdout.write(`${JSON.stringify(await timeQueries(db, Number(process.env.QUERIES)))}\n`);
  await db.close();
} else {
  const count = Number(modeOrCount);
  const home = mkdtempSync(join(tmpdir(), "aos-overhead-"));
  try {
    const owner = await openEmbeddedDatabase(join(home, "pgdata"), join(home, "aos.lock"));
    console.log(JSON.stringify(await timeQueries(owner, count)));
    const child = spawn(process.execPath, [script, "remote", home], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, QUERIES: String(count) } });
    await new Promise((resolve) => child.on("close", resolve));
    await owner.close();
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
