// The SDK walk: create an agent, give it work, follow the run's events live, then fetch its proof bundle and
// verify it offline against the server's verification keys.
//
//   npx aos api-keys create --tenant-id demo --name walk     # prints the key once
//   npx aos serve --port 8000 &                              # the API, with a worker
//   AOS_URL=http://127.0.0.1:8000 AOS_API_KEY=aos_… node examples/sdk-walk.mjs
import { AosClient, verifyProofBundle } from "aos-platform/client";

const client = new AosClient(); // AOS_URL and AOS_API_KEY from the environment

const agent = await client.createAgent({ name: "sdk-walker", budget_cents: 100 });
console.log(`agent ${agent.agent_id}`);

// An explicit plan, so the walk needs no network; client.postGoal(agent.agent_id, "…") lets the planner plan.
const plan = {
  steps: [
    { step_id: "order", skill: "json_transform", params: { payload: { order: { id: "A-17", total_cents: 4200 } }, mapping: { id: "order.id", total: "order.total_cents" } } },
    { step_id: "note", skill: "llm_invoke", params: { provider: "local", messages: [{ role: "user", content: "Order {{order.id}}: {{order.total}} cents" }] } },
  ],
};
const { run_id: runId } = await client.createRun({ goal: "Summarise order A-17", agent_id: agent.agent_id, plan }, { idempotencyKey: `walk-${agent.agent_id}` });
console.log(`run ${runId} queued`);

// A blocked or failed step, and the run's end, say why (a policy's rule, a skill's error).
const why = (text) => (text ? `: ${text}` : "");
for await (const event of client.events(runId)) {
  if (event.event === "step") console.log(`  step ${event.data.step_id} ${event.data.skill} ${event.data.status}${why(event.data.error)}`);
  if (event.event === "status") console.log(`  status ${event.data.status}${why(event.data.error_message)}`);
  // A run parked for a person's approval keeps its stream open until someone decides: stop following it here.
  if (event.event === "status" && event.data.status === "pending_approval") break;
}

const run = await client.waitForRun(runId); // returns at pending_approval too
if (run.status === "pending_approval") {
  console.log(`run ${runId} waits for approval: the tenant's policy requires it (require_approval).`);
  console.log(`  approve it through the API: client.approveRun("${runId}", "NAME") (POST /api/v1/runs/${runId}/approve {"by": "NAME"}),`);
  console.log(`  or with the CLI (beside a running aos serve or aos dev too): npx aos approve ${runId} --tenant-id ${run.tenant_id} --by NAME`);
  console.log("  (reject it the same way: client.rejectRun, aos reject); then follow it again with client.events");
  process.exit(3);
}
console.log(`run ${run.status}${why(run.error_message)}, cost ${run.cost_cents}c`);

const { verification_keys: keys } = await client.getKeys(); // pin these somewhere you trust
const verdict = verifyProofBundle(await client.getProofBundle(runId), keys);
console.log(`proof bundle: ${verdict.verification_status} (${verdict.step_count} steps, signed by ${verdict.signed_by.join(", ")})`);
process.exitCode = run.status === "succeeded" && verdict.verification_status === "VERIFIED" ? 0 : 1;
