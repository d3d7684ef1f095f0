import type { FastifyInstance } from "fastify";
import { AppError } from "../errors.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * JSON bodies as Fastify parses them (prototype poisoning refused), but decoded strictly: bytes that are not UTF-8
 * (a stray 0xFF, an overlong or surrogate encoding) are a 400, never text quietly changed to U+FFFD and then
 * stored, hashed and signed as if the client had sent it.
 */
export function useStrictJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(new AppError("VALIDATION_ERROR", "body: is not valid UTF-8; send the JSON encoded as UTF-8", { details: { field: "body" } }), undefined);
      return;
    }
    parseJson(request, text, done);
  });
}
