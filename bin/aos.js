#!/usr/bin/env node
// The CLI runs from dist/, the build's output: a clone has none until `npm run build`, and an installed package
// ships it. Without it, Node prints a "Cannot find module" stack trace that says nothing about what to do, so this
// file checks first, with nothing but node:fs, and says how to get dist/ or the packages it imports.
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
// The package leaves src/ out (package.json "files"): src/ beside bin/ means a clone, not an installed package.
const inClone = existsSync(new URL("../src", import.meta.url));
const reinstall = "reinstall aos-platform from where it came from (its .tgz file or the npm registry)";

function stop(what, cloneHint) {
  process.stderr.write(inClone ? `error: ${what}\nhint: ${cloneHint}\n` : `error: this installation of aos-platform is incomplete: ${what}\nhint: ${reinstall}\n`);
  process.exit(1);
}

if (!existsSync(entry)) stop("dist/ is missing", "build the CLI: run `npm ci && npm run build` in the repository, then the command again");

let cli;
try {
  cli = await import(entry.href);
} catch (error) {
  if (error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
  // Either a package dist/ imports is not installed (a clone without `npm ci`) or a file of dist/ is gone.
  const missingPackage = /Cannot find package '([^']+)'/.exec(error.message)?.[1];
  if (missingPackage !== undefined) stop(`the package ${missingPackage} is not installed`, "run `npm ci` in the repository, then the command again");
  stop("dist/ is incomplete (a file it imports is missing)", "run `npm run build` in the repository, then the command again");
}
process.exitCode = await cli.main(process.argv.slice(2));
