import { z } from "zod";
import { latestLogCheckpoint, logTile } from "../../services/log-tiles.js";
import { isFullTile, MAX_INDEX_GROUPS } from "../../trace/tiles.js";
import { type HandlerInput, route, type Routes } from "../route.js";

/**
 * The tenant's log as C2SP tlog-tiles (docs/tiles.md) under /api/v1/log/, the prefix an auditor's tlog client is
 * given: `checkpoint`, `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`. The tenant is the API key's, so a key
 * reads its own tenant's log and no other. <N>[.p/<W>] spans one to MAX_INDEX_GROUPS + 1 path elements, and OpenAPI
 * has no parameter that spans several, so each count of them is a route of its own; every one is answered by the
 * same strict parse of the path as sent (src/trace/tiles.ts), which its parameters' patterns only outline.
 */
const PREFIX = "/api/v1/log/";

/** Full tiles never change; a partial one is superseded by the full tile, and the checkpoint by the next. */
const CACHE = { full: "private, max-age=31536000, immutable", partial: "private, max-age=60", checkpoint: "private, max-age=5" };

const level = z
  .string()
  .regex(/^([0-9]|[1-5][0-9]|6[0-3])$/)
  .describe("<L>: the tile level, 0 to 63 without leading zeros; its hashes are of tree level 8·L");
const element = z
  .string()
  .regex(/^(x[0-9]{3}|[0-9]{3}(\.p)?|[1-9][0-9]{0,2})$/)
  .describe("a path element of <N>[.p/<W>]: <N> in 3-digit groups, all but the last prefixed x (1234067 is x001/x234/067), then .p/<W> for a partial tile of width 1 to 255");

/**
 * The routes of one kind by how many path elements <N>[.p/<W>] takes: full tiles take as many as <N> has groups,
 * partial ones one more. Routing by count rather than by full or partial keeps every template unambiguous (a
 * partial `tile/{level}/{g}/{n}.p/{w}` and a full `tile/entries/{g}/{g}/{n}` would match the same URL).
 */
function tileShape(entries: boolean, elements: number) {
  const names = Array.from({ length: elements }, (_, at) => `e${at + 1}`);
  const url = `${PREFIX}tile/${entries ? "entries" : ":level"}/${names.map((name) => `:${name}`).join("/")}`;
  const shape: Record<string, z.ZodType> = entries ? {} : { level };
  for (const name of names) shape[name] = element;
  return { url, params: z.object(shape).strict() };
}

async function sendTile({ request, reply, tenant }: HandlerInput<unknown, unknown, unknown>): Promise<Buffer> {
  // The path as sent, not as decoded: `%30%30%30` is not a spelling of `000`.
  const path = (request.url.split("?")[0] as string).slice(PREFIX.length);
  const { tile, bytes } = await logTile(tenant.db, tenant.tenantId, path);
  reply.type("application/octet-stream").header("cache-control", isFullTile(tile) ? CACHE.full : CACHE.partial).header("vary", "Authorization, X-AOS-Key");
  return bytes;
}

function tileRoutes(entries: boolean): Routes {
  const what = entries ? "An entry bundle (each entry a big-endian uint16 length, then its bytes)" : "A Merkle tree tile (hashes of 32 bytes)";
  return Array.from({ length: MAX_INDEX_GROUPS + 1 }, (_, at) => {
    const { url, params } = tileShape(entries, at + 1);
    return route({
      method: "GET",
      url,
      summary: `${what} of the tenant's log, whose <N>[.p/<W>] is ${at + 1} path element${at === 0 ? "" : "s"} (C2SP tlog-tiles)`,
      tag: "log",
      auth: true,
      params,
      successStatus: 200,
      produces: "application/octet-stream",
      // VALIDATION_ERROR (implied) is a path in none of tlog-tiles' spellings; TRACE_TAMPERED, stored rows missing.
      errors: ["TILE_NOT_FOUND", "TRACE_TAMPERED"],
      handler: sendTile,
    });
  });
}

export const logRoutes: Routes = [
  route({
    method: "GET",
    url: `${PREFIX}checkpoint`,
    summary: "The latest signed checkpoint of the tenant's log (C2SP tlog-checkpoint), with its witnesses' cosignatures",
    tag: "log",
    auth: true,
    successStatus: 200,
    produces: "text/plain",
    errors: ["CHECKPOINT_NOT_FOUND", "TRACE_TAMPERED"],
    async handler({ tenant, reply }) {
      const checkpoint = await latestLogCheckpoint(tenant.db, tenant.tenantId);
      reply.type("text/plain; charset=utf-8").header("cache-control", CACHE.checkpoint).header("vary", "Authorization, X-AOS-Key");
      return checkpoint.note;
    },
  }),
  // Entry bundles first: a reader of the spec matching a URL in order finds `tile/entries/…` before `tile/{level}/…`.
  ...tileRoutes(true),
  ...tileRoutes(false),
];
