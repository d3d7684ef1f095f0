// Loaded into a benchmark's child with `node --import`: at exit, the process's peak resident memory (getrusage's
// ru_maxrss, all threads, in KiB) goes to stderr as one line that bench/cli-wall-time.ts reads back.
import { writeSync } from "node:fs";

process.on("exit", () => {
  writeSync(2, `\nbench-peak-rss-kib ${process.resourceUsage().maxRSS}\n`);
});
