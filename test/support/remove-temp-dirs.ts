import { afterAll } from "vitest";
import { removeTempDirs } from "./temp-dirs.js";

// A setup file (vitest.config.ts): registered before each test file's own hooks, so it runs after them all, when
// its servers, workers and clusters have stopped using the directories.
afterAll(() => removeTempDirs());
