// Checks, with strong-soap's client, that a normalizer service's WSDL offers the operation the
// server calls. It runs in a thread that ends once it has answered: strong-soap costs about
// 49 MiB of memory once loaded, which the server need not keep for a check it makes once per
// connection (an exited thread gives back all but about 11 MiB of it).

import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

interface CheckRequest {
  readonly url: string;
  readonly service: string;
  readonly port: string;
  readonly operation: string;
  readonly timeoutMs: number;
}

type CheckResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

/** Resolves when the WSDL at `${url}?wsdl` offers service.port.operation; rejects saying why not. */
export function checkWsdl(request: CheckRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: request });
    worker.once("message", (result: CheckResult) => {
      if (result.ok) resolve();
      else reject(new Error(result.message));
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the WSDL check ended with code ${code}`)));
  });
}

async function check({ url, service, port, operation, timeoutMs }: CheckRequest): Promise<CheckResult> {
  const { soap } = await import("strong-soap");
  return new Promise<CheckResult>((resolve) => {
    // The deadline starts once strong-soap is loaded: it bounds the service, not this thread's start.
    const deadline = setTimeout(
      () => resolve({ ok: false, message: `took longer than ${timeoutMs} ms` }),
      timeoutMs,
    );
    soap.createClient(
      `${url}?wsdl`,
      // A cache of its own: strong-soap's shared one would outlive this check.
      { endpoint: url, WSDL_CACHE: {}, wsdl_options: { timeout: timeoutMs }, prettyPrint: false },
      (error, client) => {
        clearTimeout(deadline);
        if (error || client === undefined) {
          resolve({
            ok: false,
            message: error instanceof Error ? error.message : "strong-soap built no client",
          });
          return;
        }
        const ports = client[service] as Record<string, Record<string, unknown> | undefined> | undefined;
        resolve(
          typeof ports?.[port]?.[operation] === "function"
            ? { ok: true }
            : { ok: false, message: `it offers no ${service}.${port}.${operation}` },
        );
      },
    );
  });
}

if (!isMainThread && parentPort !== null && (workerData as CheckRequest | undefined)?.url !== undefined) {
  const port = parentPort;
  void check(workerData as CheckRequest).then((result) => port.postMessage(result));
}
