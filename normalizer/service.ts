// The normalizer as a web service: express serves the WSDL, the health check and the SOAP
// endpoint; soap-message.ts decodes and encodes the envelopes.
//
// strong-soap's own server (soap.listen) is not used for the endpoint: it trims every text
// it parses (dropping U+FEFF, which the rule keeps, and the spaces around CDATA), answers an
// unknown operation or malformed XML with HTTP 500 and a stack trace in the body, reads
// bodies without a size limit, and answers a SOAP 1.2 request on a shared address with a
// SOAP 1.1 envelope. strong-soap remains the client (the chat server's and the tests').

import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from "express";
import { type NormalizerConnectionLimits, type NormalizerLimits, normalizerDefaults } from "./defaults.js";
import { type NormalizerLogger, silentLogger } from "./logger.js";
import { normalize } from "./normalize.js";
import {
  decodeRequest,
  type EncodedMessage,
  encodeFault,
  encodeResponse,
  type SoapFault,
  versionForContentType,
} from "./soap-message.js";
import { buildWsdl, NORMALIZER_PATH } from "./wsdl.js";

interface CommonOptions extends Partial<NormalizerLimits>, Partial<NormalizerConnectionLimits> {
  /**
   * Put before every path, e.g. "/n/<secret>": the endpoint is then <prefix>/normalizer and the
   * health check <prefix>/healthz, and a request for any other path is answered 404, with its
   * connection closed, before any of its body is read. Empty (the default) for none.
   */
  readonly pathPrefix?: string;
  readonly logger?: NormalizerLogger;
  readonly shutdownGraceMs?: number;
}

export type NormalizerServiceOptions = CommonOptions &
  (
    | {
        readonly host: string;
        /** 0 picks any free port; the service's url says which. */
        readonly port: number;
      }
    | {
        /** A Unix socket to listen on instead of a TCP port; its folder decides who may connect. */
        readonly socketPath: string;
      }
  );

export interface NormalizerService {
  /**
   * http://host:port/normalizer with the port actually bound, or http://unix:SOCKET:/normalizer
   * on a Unix socket (the form strong-soap's HTTP client understands); with the path prefix
   * before /normalizer. The WSDL is at url + "?wsdl".
   */
  readonly url: string;
  /**
   * Stops accepting connections, closes idle keep-alive connections at once, lets requests in
   * flight finish for up to shutdownGraceMs, then drops what is left. Idempotent.
   */
  close(): Promise<void>;
}

const USAGE = `POST SOAP requests to ${NORMALIZER_PATH} (text/xml for SOAP 1.1, application/soap+xml for SOAP 1.2); GET ${NORMALIZER_PATH}?wsdl for the WSDL`;

export async function startNormalizerService(options: NormalizerServiceOptions): Promise<NormalizerService> {
  const limits: NormalizerLimits = {
    maxBodyBytes: options.maxBodyBytes ?? normalizerDefaults.maxBodyBytes,
    maxTextChars: options.maxTextChars ?? normalizerDefaults.maxTextChars,
    maxBatchTexts: options.maxBatchTexts ?? normalizerDefaults.maxBatchTexts,
  };
  const shutdownGraceMs = options.shutdownGraceMs ?? normalizerDefaults.shutdownGraceMs;
  const logger = options.logger ?? silentLogger;
  const prefix = options.pathPrefix ?? "";
  if (prefix !== "" && !/^(?:\/[A-Za-z0-9._~-]+)+$/.test(prefix)) {
    throw new Error("the path prefix must be /segment[/segment…] of letters, digits and . _ ~ -");
  }
  if ("socketPath" in options && options.socketPath.includes(":")) {
    // The client's URL form, http://unix:SOCKET:PATH, splits at the first colon after unix:.
    throw new Error(`the socket path must not contain ':': ${options.socketPath}`);
  }

  const headersTimeoutMs = options.headersTimeoutMs ?? normalizerDefaults.headersTimeoutMs;
  const server = http.createServer({
    headersTimeout: headersTimeoutMs,
    requestTimeout: Math.max(
      headersTimeoutMs,
      options.requestTimeoutMs ?? normalizerDefaults.requestTimeoutMs,
    ),
    keepAliveTimeout: options.keepAliveTimeoutMs ?? normalizerDefaults.keepAliveTimeoutMs,
    // The two timeouts above are enforced by a sweep this often (30 s unless set).
    connectionsCheckingInterval: Math.min(1_000, headersTimeoutMs),
  });
  server.maxConnections = options.maxConnections ?? normalizerDefaults.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const listening = () => {
      server.off("error", reject);
      resolve();
    };
    if ("socketPath" in options) server.listen(options.socketPath, listening);
    else server.listen(options.port, options.host, listening);
  });
  let origin: string;
  if ("socketPath" in options) {
    origin = `http://unix:${options.socketPath}:`;
  } else {
    const { port } = server.address() as AddressInfo;
    origin = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  }
  const url = `${origin}${prefix}${NORMALIZER_PATH}`;
  let closed: Promise<void> | undefined;
  // Responses not yet written: when close() begins they are told to close their connection,
  // so a connection busy then ends after its response instead of lingering to the deadline.
  const pending = new Set<http.ServerResponse>();
  // Created only now because the WSDL names the address; no request can be read before this
  // continuation runs.
  const app = createApp({ wsdl: buildWsdl(url, limits), limits, logger });
  const underPrefix = prefixMatcher(prefix);
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (closed !== undefined) res.setHeader("Connection", "close");
    pending.add(res);
    res.once("close", () => pending.delete(res));
    if (prefix !== "") {
      const rest = underPrefix(req.url ?? "");
      if (rest === undefined) {
        refuseOutsidePrefix(res);
        return;
      }
      req.url = rest;
    }
    app(req, res);
  });

  return {
    url,
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const res of pending) if (!res.headersSent) res.setHeader("Connection", "close");
        const deadline = setTimeout(() => server.closeAllConnections(), shutdownGraceMs);
        server.close(() => {
          clearTimeout(deadline);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}

/**
 * The path after `prefix` ("/normalizer?wsdl" for "<prefix>/normalizer?wsdl"), or undefined when
 * the path does not start with it. The prefix may be a secret, so it is compared in constant time.
 */
function prefixMatcher(prefix: string): (path: string) => string | undefined {
  const expected = Buffer.from(`${prefix}/`);
  return (path) => {
    const given = Buffer.from(path.slice(0, expected.length));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return path.slice(expected.length - 1);
  };
}

/** 404 at once, and the connection closed after it, so that no body is read or parsed. */
function refuseOutsidePrefix(res: http.ServerResponse): void {
  res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8", Connection: "close" });
  res.end("not found\n");
}

interface AppContext {
  readonly wsdl: string;
  readonly limits: NormalizerLimits;
  readonly logger: NormalizerLogger;
}

function createApp({ wsdl, limits, logger }: AppContext): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.get("/healthz", (_req, res) => {
    res.type("text/plain").send("ok");
  });

  app.get(NORMALIZER_PATH, (req, res) => {
    const query = new URLSearchParams(req.originalUrl.split("?")[1] ?? "");
    if (!Array.from(query.keys()).some((key) => key.toLowerCase() === "wsdl")) {
      res.status(400).type("text/plain").send(`${USAGE}\n`);
      return;
    }
    res.type("text/xml; charset=utf-8").send(wsdl);
  });

  const readBody = express.raw({ type: () => true, limit: limits.maxBodyBytes });
  const answerSoap: RequestHandler = (req, res) => {
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    logger.debug?.("normalizer request read", { bytes: body.length });
    const decoded = decodeRequest(req.get("content-type"), body, limits);
    switch (decoded.kind) {
      case "not-soap":
        logger.warn("normalizer request refused", { reason: decoded.reason });
        res.status(400).type("text/plain").send(`not a SOAP request: ${decoded.reason}. ${USAGE}\n`);
        return;
      case "fault":
        sendFault(res, decoded.fault, logger);
        return;
      case "request": {
        const { request } = decoded;
        send(res, encodeResponse(request, request.texts.map(normalize)));
        return;
      }
    }
  };
  // Whatever failed while reading or answering a SOAP request, the answer is a fault.
  const answerSoapError: ErrorRequestHandler = (error, req, res, _next) => {
    const failure = describeFailure(error, req, limits, logger);
    if (failure === undefined || abandon(req, res)) return;
    const version = versionForContentType(req.get("content-type"));
    sendFault(
      res,
      { version, code: failure.status < 500 ? "Sender" : "Receiver", reason: failure.reason },
      logger,
    );
  };
  app.post(NORMALIZER_PATH, readBody, answerSoap, answerSoapError);

  app.all(NORMALIZER_PATH, (req, res) => {
    res
      .status(405)
      .set("Allow", "GET, POST")
      .type("text/plain")
      .send(`${req.method} is not supported. ${USAGE}\n`);
  });

  app.use((req, res) => {
    res.status(404).type("text/plain").send(`nothing at ${req.path}. ${USAGE}\n`);
  });

  // Every other error ends here; no stack trace ever leaves the process.
  app.use(((error, req, res, _next) => {
    const failure = describeFailure(error, req, limits, logger);
    if (failure === undefined || abandon(req, res)) return;
    res.status(failure.status).type("text/plain").send(`${failure.reason}\n`);
  }) satisfies ErrorRequestHandler);
  return app;
}

/**
 * What to tell the client about an error, without internals: body-parser's errors (4xx) are
 * the client's doing and are explained; anything else is logged and reported as internal.
 * Undefined when the client is gone and nothing can be answered.
 */
function describeFailure(
  error: unknown,
  req: Request,
  limits: NormalizerLimits,
  logger: NormalizerLogger,
): { status: number; reason: string } | undefined {
  const { type, status, expose, message } = (error ?? {}) as {
    type?: unknown;
    status?: unknown;
    expose?: unknown;
    message?: unknown;
  };
  if (type === "request.aborted") return undefined;
  if (typeof status !== "number" || status < 400 || status >= 500) {
    logger.error("normalizer request failed", { error: describeError(error) });
    return { status: 500, reason: "internal error in the normalizer service" };
  }
  if (type === "entity.too.large") {
    return { status, reason: `the request body exceeds the limit of ${limits.maxBodyBytes} bytes` };
  }
  if (type === "encoding.unsupported") {
    const encoding = req.get("content-encoding");
    return {
      status,
      reason: `Content-Encoding ${encoding} is not supported; send identity, gzip, deflate or br`,
    };
  }
  const detail = expose === true && typeof message === "string" ? message : "bad request";
  return { status, reason: `the request could not be read: ${detail}` };
}

/** True, after dropping the connection, when a response has already begun and cannot be replaced. */
function abandon(req: Request, res: Response): boolean {
  if (!res.headersSent) return false;
  req.socket.destroy();
  return true;
}

function sendFault(res: Response, fault: SoapFault, logger: NormalizerLogger): void {
  if (fault.code !== "Receiver") logger.warn("normalizer request refused", { reason: fault.reason });
  send(res, encodeFault(fault));
}

function send(res: Response, message: EncodedMessage): void {
  res.status(message.status).set("Content-Type", message.contentType).send(message.body);
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
