/** The plan both benchmarks run: one json_transform step, no network, no retries needed. */
export const ONE_STEP_PLAN = {
  steps: [{ step_id: "pick", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }],
};
