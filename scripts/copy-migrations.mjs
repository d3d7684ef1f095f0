// tsc copies only .ts output; the numbered .sql migrations ship beside the compiled migrator.
import { cpSync } from "node:fs";
cpSync(new URL("../src/db/migrations", import.meta.url), new URL("../dist/db/migrations", import.meta.url), {
  recursive: true,
});
