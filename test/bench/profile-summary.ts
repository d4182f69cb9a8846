// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
// with file:line mapped back to the TypeScript source when a source map sits beside the .js.
//
//   node dist/test/bench/profile-summary.js FILE.cpuprofile [--top 25]

import fs from "node:fs";
import { SourceMap } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface FunctionCost {
  readonly name: string;
  readonly location: string;
  readonly selfMs: number;
  /** Share of the profile's busy time (everything but "(idle)"). */
  readonly selfPercent: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly wallMs: number;
  readonly busyMs: number;
  readonly idleMs: number;
  readonly top: FunctionCost[];
  /** Self time per source file (or per bucket such as "(garbage collector)"), largest first. */
  readonly byFile: Array<{ readonly file: string; readonly selfMs: number; readonly selfPercent: number }>;
}

const sourceMaps = new Map<string, SourceMap | null>();

function sourceMapFor(url: string): SourceMap | null {
  let map = sourceMaps.get(url);
  if (map !== undefined) return map;
  map = null;
  if (url.startsWith("file://")) {
    const mapFile = `${fileURLToPath(url)}.map`;
    try {
      map = new SourceMap(JSON.parse(fs.readFileSync(mapFile, "utf8")));
    } catch {
      map = null;
    }
  }
  sourceMaps.set(url, map);
  return map;
}

function shortPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith("..") ? file : relative;
}

/** "file:line" of a call frame, in the TypeScript source when possible (1-based line). */
function locate(frame: CallFrame): { file: string; location: string } {
  if (frame.url === "") return { file: "(native)", location: "(native)" };
  const map = sourceMapFor(frame.url);
  if (map !== null && frame.lineNumber >= 0) {
    const entry = map.findEntry(frame.lineNumber, Math.max(0, frame.columnNumber)) as {
      originalSource?: string;
      originalLine?: number;
    };
    if (entry.originalSource !== undefined && entry.originalLine !== undefined) {
      const source = entry.originalSource.startsWith("file://")
        ? fileURLToPath(entry.originalSource)
        : path.resolve(path.dirname(fileURLToPath(frame.url)), entry.originalSource);
      const file = shortPath(source);
      return { file, location: `${file}:${entry.originalLine + 1}` };
    }
  }
  let file = frame.url;
  if (file.startsWith("file://")) file = shortPath(fileURLToPath(file));
  file = file.replace(/^.*\/node_modules\//, "node_modules/");
  return { file, location: `${file}:${frame.lineNumber + 1}` };
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  // Self time per node: each sample's time delta belongs to the node it hit.
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    // timeDeltas[i] is the time before sample i; the time after it is the next delta.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
  }
  const functions = new Map<string, { name: string; location: string; us: number }>();
  const files = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    totalUs += us;
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const { file: where, location } =
      frame.functionName.startsWith("(") && frame.url === ""
        ? { file: frame.functionName, location: "" }
        : locate(frame);
    const name = frame.functionName || "(anonymous)";
    const key = `${name}@${location}`;
    const entry = functions.get(key) ?? { name, location, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    files.set(where, (files.get(where) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const percent = (us: number) => (busyUs > 0 ? (100 * us) / busyUs : 0);
  return {
    file,
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    top: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((entry) => ({
        name: entry.name,
        location: entry.location,
        selfMs: entry.us / 1000,
        selfPercent: percent(entry.us),
      })),
    byFile: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([where, us]) => ({ file: where, selfMs: us / 1000, selfPercent: percent(us) })),
  };
}

export function formatSummary(summary: ProfileSummary, filesShown = 12): string {
  const lines = [
    `${summary.file}`,
    `  wall ${summary.wallMs.toFixed(0)} ms, busy ${summary.busyMs.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms (self % of busy time)`,
    "   self ms  self %  function  (file:line)",
  ];
  for (const entry of summary.top) {
    lines.push(
      `  ${entry.selfMs.toFixed(0).padStart(8)}  ${entry.selfPercent.toFixed(1).padStart(5)}%  ${entry.name}  ${entry.location}`,
    );
  }
  lines.push("  by file:");
  for (const entry of summary.byFile.slice(0, filesShown)) {
    lines.push(
      `  ${entry.selfMs.toFixed(0).padStart(8)}  ${entry.selfPercent.toFixed(1).padStart(5)}%  ${entry.file}`,
    );
  }
  return lines.join("\n");
}

function main(argv: readonly string[]): void {
  const files = argv.filter((arg, index) => !arg.startsWith("--") && argv[index - 1] !== "--top");
  const topIndex = argv.indexOf("--top");
  const top = topIndex === -1 ? 25 : Number(argv[topIndex + 1]);
  if (files.length === 0 || !Number.isInteger(top) || top < 1) {
    process.stderr.write("usage: profile-summary FILE.cpuprofile... [--top N]\n");
    process.exitCode = 2;
    return;
  }
  for (const file of files) process.stdout.write(`${formatSummary(summarizeProfile(file, top))}\n\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) main(process.argv.slice(2));
