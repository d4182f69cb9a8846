// CPU time (user + system, from /proc) spent by groups of processes over an interval — the
// server nodes, PostgreSQL's backends, the load generators — beside the whole machine's busy
// time: on a small machine, what bounds a figure is often who else had the cores.
//
// Each group's pids are listed again at every sample, so a process that starts during the
// interval (a PostgreSQL backend a node's pool opens) counts from zero, and one that exits
// keeps the time it had at its last sample.

import fs from "node:fs";
import { processStats } from "./processes.js";

const SAMPLE_MS = 250;
// USER_HZ: 100 on every Linux architecture Node supports.
const CLOCK_TICKS = 100;

export type PidLister = () => number[] | Promise<number[]>;

export interface CpuSpent {
  readonly wallSeconds: number;
  /** Busy time of every core together (everything but idle and iowait in /proc/stat). */
  readonly machineSeconds: number;
  readonly groups: ReadonlyArray<{
    readonly name: string;
    readonly seconds: number;
    readonly processes: number;
  }>;
}

function cpuSeconds(pid: number): number | undefined {
  try {
    return processStats(pid).cpuSeconds;
  } catch {
    return undefined;
  }
}

function machineBusySeconds(): number {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  // cpu user nice system idle iowait irq softirq steal …
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((sum, n) => sum + n, 0);
  return (total - ticks[3]! - ticks[4]!) / CLOCK_TICKS;
}

class Group {
  /** pid → [CPU seconds when first seen (0 if it started later), when last seen]. */
  readonly seen = new Map<number, [number, number]>();

  constructor(
    readonly name: string,
    readonly list: PidLister,
  ) {}

  async sample(first: boolean): Promise<void> {
    for (const pid of await this.list()) {
      const now = cpuSeconds(pid);
      if (now === undefined) continue;
      const known = this.seen.get(pid);
      if (known === undefined) this.seen.set(pid, [first ? now : 0, now]);
      else known[1] = now;
    }
  }

  spent(): { name: string; seconds: number; processes: number } {
    let seconds = 0;
    for (const [from, to] of this.seen.values()) seconds += to - from;
    return { name: this.name, seconds, processes: this.seen.size };
  }
}

export class CpuAccount {
  readonly #groups: Group[];
  #startMs = 0;
  #machineStart = 0;
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<void> = Promise.resolve();

  constructor(groups: ReadonlyArray<readonly [string, PidLister]>) {
    this.#groups = groups.map(([name, list]) => new Group(name, list));
  }

  async start(): Promise<void> {
    this.#startMs = performance.now();
    this.#machineStart = machineBusySeconds();
    await Promise.all(this.#groups.map((group) => group.sample(true)));
    this.#timer = setInterval(() => {
      // One sample at a time: a slow pg_stat_activity query must not pile them up.
      this.#sampling = this.#sampling.then(() => this.#sampleAll()).catch(() => {});
    }, SAMPLE_MS);
  }

  async stop(): Promise<CpuSpent> {
    clearInterval(this.#timer);
    await this.#sampling;
    await this.#sampleAll();
    return {
      wallSeconds: (performance.now() - this.#startMs) / 1000,
      machineSeconds: machineBusySeconds() - this.#machineStart,
      groups: this.#groups.map((group) => group.spent()),
    };
  }

  async #sampleAll(): Promise<void> {
    await Promise.all(this.#groups.map((group) => group.sample(false)));
  }
}
