// The bench's side of a load-generator process: start it, call its methods over the IPC
// channel, stop it. Load runs in separate processes so that the client's CPU is not charged
// to the server, though on a small machine they still share the cores.

import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { WorkerMethods } from "./load-worker.js";
import { processStats, spawnNode, stopProcess } from "./processes.js";

const WORKER_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "load-worker.js");

export interface WorkerReply {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: string;
}

export class WorkerProcess {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #stderr: string[] = [];
  #nextId = 1;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    child.stderr!.on("data", (chunk) => {
      this.#stderr.push(String(chunk));
      if (this.#stderr.length > 50) this.#stderr.shift();
    });
    child.stdout!.on("data", (chunk) => process.stderr.write(`[${name}] ${chunk}`));
    child.on("message", (message: WorkerReply) => {
      const call = this.#calls.get(message.id);
      if (call === undefined) return;
      this.#calls.delete(message.id);
      if (message.error !== undefined) call.reject(new Error(`${name}: ${message.error}`));
      else call.resolve(message.result);
    });
    child.once("exit", (code, signal) => {
      const error = new Error(`${name} exited (${code ?? signal}): ${this.#stderr.join("").slice(-2000)}`);
      for (const call of this.#calls.values()) call.reject(error);
      this.#calls.clear();
    });
  }

  static start(name: string): WorkerProcess {
    return new WorkerProcess(name, spawnNode([WORKER_MAIN], { ipc: true }));
  }

  get pid(): number {
    return this.#child.pid!;
  }

  call<M extends keyof WorkerMethods>(
    method: M,
    params: Parameters<WorkerMethods[M]>[0],
  ): Promise<Awaited<ReturnType<WorkerMethods[M]>>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#child.send({ id, method, params });
    });
  }

  stats(): ReturnType<typeof processStats> {
    return processStats(this.pid);
  }

  async stop(): Promise<void> {
    await stopProcess(this.#child, 3000);
  }
}

/** Starts `count` workers, runs `body`, and always stops them. */
export async function withWorkers<T>(
  count: number,
  prefix: string,
  body: (workers: WorkerProcess[]) => Promise<T>,
): Promise<T> {
  const workers = Array.from({ length: count }, (_, index) => WorkerProcess.start(`${prefix}-${index + 1}`));
  try {
    return await body(workers);
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}
