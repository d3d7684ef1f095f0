// Filled in by the database test support: prepares the migrated template database once per test run.
export default async function setup(): Promise<void> {}
