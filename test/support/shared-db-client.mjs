// A process on a shared embedded database (test/shared-embedded-database.test.ts), built code only (dist/), the
// way `aos` opens it. It prints one JSON line per event on stdout and takes commands, one per line, on stdin.
//
//   node shared-db-client.mjs <home> load <client> <rounds>
//     prints {"ready"}, waits for "go", then runs <rounds> rounds of queries whose results are unique to this
//     client and round, checks each, and prints {"done", mismatches, rounds}.
//   node shared-db-client.mjs <home> hold <client>
//     begins a transaction, inserts (client, 0), prints {"holding"}, then on "commit" commits and prints
//     {"committed"} or {"failed", code}.
import { createInterface } from "node:readline";
import { withTransaction } from "../../dist/db/database.js";
import { openEmbeddedDatabase } from "../../dist/db/open-database.js";

const [home, mode, clientText, roundsText] = process.argv.slice(2);
const client = Number(clientText);
const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const reader = createInterface({ input: process.stdin });
const lines = reader[Symbol.asyncIterator]();
const nextCommand = async () => (await lines.next()).value;

const db = await openEmbeddedDatabase(`${home}/pgdata`, `${home}/aos.lock`);

/** One round: a parameterised query, a simple-protocol one, and a transaction on this client's own rows. */
async function round(n, mismatches) {
  const tag = `${client}:${n}`;
  const extended = await db.pool.query("select $1::text as tag, $2::int * 1000 + $3::int as number", [tag, client, n]);
  if (extended.rows[0]?.tag !== tag || extended.rows[0]?.number !== client * 1000 + n) mismatches.push({ n, kind: "extended", rows: extended.rows });
  // Digits only, so the text is safe to put in the statement: the simple protocol takes no parameters.
  const simple = await db.pool.query(`select '${tag}' as tag`);
  if (simple.rows[0]?.tag !== tag) mismatches.push({ n, kind: "simple", rows: simple.rows });
  await withTransaction(db, async (tx) => {
    await tx.query("insert into crossing_probe (client, round, tag) values ($1::int, $2::int, $3::text)", [client, n, tag]);
    const mine = await tx.query("select count(*)::int as count, max(round)::int as last from crossing_probe where client = $1::int", [client]);
    if (mine.rows[0]?.count !== n + 1 || mine.rows[0]?.last !== n) mismatches.push({ n, kind: "own rows", rows: mine.rows });
    const back = await tx.query("select tag from crossing_probe where client = $1::int and round = $2::int", [client, n]);
    if (back.rows.length !== 1 || back.rows[0].tag !== tag) mismatches.push({ n, kind: "read back", rows: back.rows });
  });
}

try {
  if (mode === "load") {
    say({ event: "ready", role: db.sharing.role });
    await nextCommand();
    const mismatches = [];
    const rounds = Number(roundsText);
    for (let n = 0; n < rounds; n++) await round(n, mismatches);
    say({ event: "done", rounds, mismatches });
  } else if (mode === "hold") {
    const tx = await db.pool.connect();
    await tx.query("begin");
    await tx.query("insert into crossing_probe (client, round, tag) values ($1::int, 0, 'held')", [client]);
    say({ event: "holding" });
    await nextCommand();
    try {
      await tx.query("commit");
      say({ event: "committed" });
    } catch (error) {
      say({ event: "failed", code: error.code, message: error.message });
    }
    tx.release(true);
  }
} finally {
  reader.close();
  process.stdin.destroy();
  await db.close();
}
