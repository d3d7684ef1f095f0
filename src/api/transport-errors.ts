import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";
import { AppError } from "../errors.js";
import { errorEnvelope } from "./envelope.js";

/**
 * The longest path parameter the router takes, in characters as sent. The spec allows ids of 200 code points; sent
 * percent-encoded, one code point takes at most 12 characters (4 UTF-8 bytes, each `%XX`), so every id the spec
 * allows reaches the route's schema, which counts its code points. Past this the router gives up: 414 URI_TOO_LONG.
 */
const MAX_PARAM_CHARS = 200 * 12;

/**
 * Errors met before any route runs, in the one envelope: what the router refuses (a malformed percent-encoding,
 * a parameter past MAX_PARAM_CHARS) and what Node's HTTP parser refuses for the connection (headers past its 16 KiB
 * limit, a request that does not parse, a client too slow to send its headers), which Fastify would otherwise
 * answer with bodies of its own.
 */
export function transportOptions(): Pick<FastifyServerOptions, "routerOptions" | "frameworkErrors" | "clientErrorHandler"> {
  return { routerOptions: { maxParamLength: MAX_PARAM_CHARS }, frameworkErrors, clientErrorHandler };
}

function frameworkErrors(error: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split("?")[0] ?? "";
  const refused =
    error.code === "FST_ERR_MAX_PARAM_LENGTH"
      ? new AppError("URI_TOO_LONG", `a path parameter of ${path.slice(0, 80)}… is longer than ${MAX_PARAM_CHARS} characters; an id has at most 200`)
      : error.code === "FST_ERR_BAD_URL"
        ? new AppError("VALIDATION_ERROR", "the URL holds a malformed percent-encoding")
        : error;
  const { status, body } = errorEnvelope(refused, request.id);
  void reply.status(status).send(body);
}

function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has no one left to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const refused =
    error.code === "HPE_HEADER_OVERFLOW"
      ? new AppError("HEADERS_TOO_LARGE", "the request's headers are larger than the server reads (16 KiB)")
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new AppError("REQUEST_TIMEOUT", "the request's headers did not arrive in time")
        : new AppError("VALIDATION_ERROR", "the request is not valid HTTP");
  const { status, body } = errorEnvelope(refused, "none");
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy(error);
}
