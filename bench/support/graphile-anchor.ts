import { Logger, makeWorkerUtils, run } from "graphile-worker";

const silent = new Logger(() => () => {});

/**
 * The anchor for queue throughput: graphile-worker 0.17.3 executing pre-enqueued no-op jobs at the given
 * concurrency on the same server, in this process. Returns jobs per second from the first to the last job done.
 */
export async function graphileNoopJobsPerSecond(connectionString: string, jobs: number, concurrency: number): Promise<{ jobs: number; seconds: number; perSecond: number }> {
  const utils = await makeWorkerUtils({ connectionString, logger: silent });
  try {
    await utils.migrate();
    for (let added = 0; added < jobs; added += 1000) {
      const batch = Array.from({ length: Math.min(1000, jobs - added) }, (_, i) => ({ identifier: "noop", payload: { n: added + i } }));
      await utils.addJobs(batch);
    }
  } finally {
    await utils.release();
  }
  let done = 0;
  let first = 0;
  let last = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const runner = await run({
    connectionString,
    concurrency,
    maxPoolSize: concurrency + 2,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: silent,
    taskList: {
      noop: async () => {
        const now = performance.now();
        if (done === 0) first = now;
        done += 1;
        last = now;
        if (done === jobs) finished();
      },
    },
  });
  await allDone;
  await runner.stop();
  const seconds = (last - first) / 1000;
  return { jobs, seconds, perSecond: Math.round(jobs / seconds) };
}
