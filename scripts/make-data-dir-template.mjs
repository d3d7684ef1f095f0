// Ships the embedded database initialised and migrated (src/db/data-dir-template.ts): a fresh AOS_HOME unpacks
// dist/db/pgdata-template.tar.gz instead of running initdb and the migrations inside WASM. Runs after tsc.
import { BUILT_TEMPLATE } from "../dist/db/data-dir-template.js";
import { writeTemplate } from "../dist/db/make-data-dir-template.js";

const manifest = await writeTemplate(BUILT_TEMPLATE);
console.log(`embedded database template: ${manifest.migrations.length} migrations, PGlite ${manifest.pglite}`);
