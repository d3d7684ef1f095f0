// `npm pack` and `npm publish` ship dist/ as it is (prepack): refuse a package without a build, or with a build
// older than a source file, which would install a CLI that is missing or not the code in src/.
import { existsSync, readdirSync, statSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
const src = new URL("../src/", import.meta.url);

function refuse(what) {
  process.stderr.write(`error: ${what}\nhint: run \`npm run build\`, then pack again\n`);
  process.exit(1);
}

if (!existsSync(entry)) refuse("dist/ is missing, so the package would have no CLI");
const built = statSync(entry).mtimeMs;
const newer = readdirSync(src, { recursive: true })
  .filter((path) => /\.(ts|sql)$/.test(path) && !path.endsWith(".test.ts"))
  .filter((path) => statSync(new URL(path, src)).mtimeMs > built);
if (newer.length > 0) refuse(`dist/ is older than src/${newer[0]}${newer.length > 1 ? ` and ${newer.length - 1} more` : ""}`);
