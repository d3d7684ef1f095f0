import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { OutgoingHttpHeaders } from "node:http";
import { buildApi } from "../../src/api/server.js";
import type { ApiDeps } from "../../src/api/route.js";

// ajv-formats is CommonJS: its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

type Json = Record<string, unknown>;

interface Operation {
  pattern: RegExp;
  template: string;
  method: string;
  responses: Responses;
  /** Upstream's twin of the operation (`x-upstream-dialect`), answering requests whose key is in X-AOS-Key. */
  upstream: Responses | undefined;
}

type Responses = Record<string, { content?: Record<string, { schema?: Json }>; headers?: Record<string, { required?: boolean; schema: Json }> }>;

/** One response as it left the server: what the contract is checked against. */
export interface SentResponse {
  method: string;
  url: string;
  status: number;
  headers: OutgoingHttpHeaders | Record<string, string | string[] | number | undefined>;
  body: string | undefined;
  /** "upstream" when the request's key came in X-AOS-Key alone: the answer is held to upstream's twin where there is one. */
  dialect?: "upstream" | undefined;
}

/**
 * The API's contract as the served document states it: every response a test receives is held to the schema
 * /docs/openapi.json declares for its operation and status, with ajv in strict mode. The schemas come from the
 * document, never from the zod schemas it was generated from, so what is checked is what clients read. The
 * operation is found by matching the URL against the document's path templates, not by asking Fastify.
 */
export class Contract {
  readonly violations: string[] = [];
  checked = 0;
  private readonly ajv = addFormats(new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true }));
  private readonly operations: Operation[] = [];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(document: Json) {
    const components = (document.components as { schemas: Json }).schemas;
    this.ajv.addSchema(refsToDefs({ $id: "aos-openapi", $defs: components }));
    for (const [template, methods] of Object.entries(document.paths as Record<string, Record<string, Operation["responses"]>>)) {
      for (const [method, operation] of Object.entries(methods)) {
        const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, "[^/]+")}$`);
        const { responses, "x-upstream-dialect": upstream } = operation as unknown as { responses: Responses; "x-upstream-dialect"?: { responses: Responses } };
        this.operations.push({ pattern, template, method: method.toUpperCase(), responses, upstream: upstream?.responses });
      }
    }
  }

  /** Checks one response; what it breaks is kept in `violations`. Routes outside the document (/docs) are skipped. */
  check(sent: SentResponse): void {
    const path = sent.url.split("?")[0] as string;
    if (path === "/docs" || path === "/docs/openapi.json") return;
    this.checked += 1;
    const where = `${sent.method} ${path.length > 120 ? `${path.slice(0, 120)}…` : path} → ${sent.status}`;
    const operation = this.operations.find((candidate) => candidate.method === sent.method && candidate.pattern.test(path));
    if (operation === undefined) {
      if (sent.status !== 404 && sent.status !== 414 && sent.status !== 400) this.violations.push(`${where}: no operation in the spec, yet not a 4xx`);
      this.validate(where, "aos-openapi#/$defs/Error", { $ref: "aos-openapi#/$defs/Error" }, sent.body);
      return;
    }
    const upstream = sent.dialect === "upstream" && operation.upstream !== undefined;
    const responses = upstream ? (operation.upstream as Responses) : operation.responses;
    const declared = responses[String(sent.status)] ?? (sent.status >= 500 ? responses.default : undefined);
    if (declared === undefined) {
      this.violations.push(`${where}: ${operation.method} ${operation.template} declares no ${sent.status}`);
      return;
    }
    for (const [name, header] of Object.entries(declared.headers ?? {})) {
      const value = sent.headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.required === true) this.violations.push(`${where}: the required header ${name} is missing`);
        continue;
      }
      const typed = header.schema.type === "integer" ? Number(value) : value;
      this.validate(`${where} header ${name}`, `${operation.method} ${operation.template} ${sent.status} ${name}`, header.schema, JSON.stringify(typed));
    }
    const mediaType = String(sent.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
    const content = declared.content?.[mediaType];
    if (content === undefined) {
      this.violations.push(`${where}: sent ${mediaType || "no content type"}, the spec declares ${Object.keys(declared.content ?? {}).join(", ")}`);
      return;
    }
    if (mediaType === "application/json") this.validate(where, `${upstream ? "upstream " : ""}${operation.method} ${operation.template} ${sent.status}`, content.schema ?? {}, sent.body);
  }

  private validate(where: string, key: string, schema: Json, body: string | undefined): void {
    let validator = this.validators.get(key);
    if (validator === undefined) {
      validator = this.ajv.compile(refsToDefs(schema));
      this.validators.set(key, validator);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body ?? "");
    } catch {
      this.violations.push(`${where}: the body is not JSON: ${(body ?? "").slice(0, 80)}`);
      return;
    }
    if (!validator(parsed)) {
      const errors = (validator.errors ?? []).slice(0, 5).map((error) => `${error.instancePath || "/"} ${error.message} ${JSON.stringify(error.params)}`);
      this.violations.push(`${where}: ${errors.join("; ")}`);
    }
  }
}

/** The document's `#/components/schemas/X` references, pointed at the schema ajv holds the components in. */
function refsToDefs(schema: Json): Json {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"aos-openapi#/$defs/')) as Json;
}

/**
 * The API as tests use it, with every response it sends checked against the served spec (an onSend hook: inject
 * and real sockets alike). Tests assert `contract.violations` is empty after each test.
 */
export async function contractCheckedApi(deps: ApiDeps): Promise<{ app: ReturnType<typeof buildApi>; contract: Contract }> {
  const app = buildApi(deps);
  let contract: Contract | undefined;
  app.addHook("onSend", async (request, reply, payload) => {
    const body = typeof payload === "string" ? payload : Buffer.isBuffer(payload) ? payload.toString("utf8") : undefined;
    // Upstream's dialect as its SDKs select it: the key in X-AOS-Key, no `Authorization: Bearer` beside it.
    const bearer = /^bearer\s/i.test(String(request.headers.authorization ?? ""));
    const dialect = !bearer && request.headers["x-aos-key"] !== undefined ? ("upstream" as const) : undefined;
    contract?.check({ method: request.method, url: request.url, status: reply.statusCode, headers: reply.getHeaders(), body, dialect });
    return payload;
  });
  await app.ready();
  contract = new Contract((await app.inject({ method: "GET", url: "/docs/openapi.json" })).json() as Json);
  return { app, contract };
}
