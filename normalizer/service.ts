// The normalizer as a web service: express serves the WSDL, the health check and the SOAP
// endpoint; soap-message.ts decodes and encodes the envelopes.
//
// strong-soap's own server (soap.listen) is not used for the endpoint: it trims every text
// it parses (dropping U+FEFF, which the rule keeps, and the spaces around CDATA), answers an
// unknown operation or malformed XML with HTTP 500 and a stack trace in the body, reads
// bodies without a size limit, and answers a SOAP 1.2 request on a shared address with a
// SOAP 1.1 envelope. strong-soap remains the client (the chat server's and the tests').

import http from "node:http";
import type { AddressInfo } from "node:net";
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from "express";
import { type NormalizerLimits, normalizerDefaults } from "./defaults.js";
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

export interface NormalizerServiceOptions extends Partial<NormalizerLimits> {
  readonly host: string;
  /** 0 picks any free port; the service's url says which. */
  readonly port: number;
  readonly logger?: NormalizerLogger;
  readonly shutdownGraceMs?: number;
}

export interface NormalizerService {
  /** http://host:port/normalizer with the port actually bound; the WSDL is at url + "?wsdl". */
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

  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}${NORMALIZER_PATH}`;
  let closed: Promise<void> | undefined;
  // Responses not yet written: when close() begins they are told to close their connection,
  // so a connection busy then ends after its response instead of lingering to the deadline.
  const pending = new Set<http.ServerResponse>();
  server.on("request", (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (closed !== undefined) res.setHeader("Connection", "close");
    pending.add(res);
    res.once("close", () => pending.delete(res));
  });
  // Attached only now because the WSDL names the port; no request can be read before this
  // continuation runs.
  server.on("request", createApp({ wsdl: buildWsdl(url, limits), limits, logger }));

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
