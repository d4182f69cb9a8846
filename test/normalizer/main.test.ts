import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { type NormalizerService, startNormalizerService } from "../../normalizer/service.js";
import { SoapNormalizer } from "../../server/normalization/soap-normalizer.js";
import { envelope11, expectFault11, normalizeCall, post, SOAP11_NS } from "./helpers.js";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../normalizer/main.js");
const START_TIMEOUT_MS = 10_000;

interface Run {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the exit code, or the signal's name, once the process has ended. */
  readonly exited: Promise<number | string>;
}

function run(args: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, PARLEY_NORMALIZER_HOST: "", PARLEY_NORMALIZER_PORT: "", ...env },
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout.push(chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  return { child, stdout, stderr, exited };
}

function lines(chunks: readonly string[]): string[] {
  return chunks
    .join("")
    .split("\n")
    .filter((line) => line !== "");
}

/** Reads the child's stdout until the "normalizer listening" line and returns it, parsed. */
function waitForListening(started: Run): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error("no 'normalizer listening' line in time")),
      START_TIMEOUT_MS,
    );
    const check = () => {
      for (const line of lines(started.stdout)) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === "normalizer listening") return finish(undefined, entry);
      }
    };
    const early = (code: number | string) =>
      finish(
        new Error(`exited (${code}) before listening: ${started.stderr.join("")}${started.stdout.join("")}`),
      );
    function finish(error?: Error, entry?: Record<string, unknown>): void {
      clearTimeout(timer);
      started.child.stdout.off("data", check);
      if (error !== undefined) reject(error);
      else resolve(entry!);
    }
    started.child.stdout.on("data", check);
    started.exited.then(early, early);
    check();
  });
}

describe("parley-normalizer binary (integration)", () => {
  it("starts with a #!/usr/bin/env node line", () => {
    expect(fs.readFileSync(MAIN, "utf8").split("\n")[0]).to.equal("#!/usr/bin/env node");
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`logs where it listens, serves, and exits 0 on ${signal}`, async () => {
      const started = run(["--port", "0"]);
      const listening = await waitForListening(started);
      expect(Object.keys(listening)).to.deep.equal(["time", "level", "msg", "url"]);
      expect(new Date(listening.time as string).toISOString()).to.equal(listening.time);
      expect(listening.level).to.equal("info");
      const url = listening.url as string;
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/normalizer$/);
      expect(url).not.to.match(/:0\//);

      const normalizer = new SoapNormalizer(url);
      try {
        expect(await normalizer.normalizeBatch(["  standalone \t service "])).to.deep.equal([
          "standalone service",
        ]);
      } finally {
        await normalizer.close();
      }

      started.child.kill(signal);
      expect(await started.exited).to.equal(0);
      expect(started.stderr.join("")).to.equal("");
      const messages = lines(started.stdout).map((line) => (JSON.parse(line) as { msg: string }).msg);
      expect(messages).to.deep.equal(["normalizer listening", "normalizer stopping", "normalizer stopped"]);
    });
  }

  it("keeps the service's limits: body size, elements while reading, a bounded fault", async () => {
    const started = run(["--port", "0"]);
    const url = (await waitForListening(started)).url as string;
    try {
      const oversized = await post(url, envelope11(normalizeCall("x".repeat(2 * 1024 * 1024))));
      expect(expectFault11(oversized)).to.equal("the request body exceeds the limit of 1048576 bytes");
      const flood = await post(
        url,
        envelope11(`<n:NormalizeBatch>${"<a/>".repeat(100_000)}</n:NormalizeBatch>`),
      );
      expect(expectFault11(flood)).to.match(/^malformed XML: the document holds more than 1064 elements/);
      const namespace = `urn:${"x".repeat(500_000)}`;
      const echoed = await post(url, envelope11(normalizeCall("x")).replace(SOAP11_NS, namespace));
      expectFault11(echoed, "soap:VersionMismatch");
      expect(echoed.body.length).to.be.below(1_000);
      expect(started.stdout.join("").length).to.be.below(5_000);
    } finally {
      started.child.kill("SIGTERM");
      await started.exited;
    }
  });

  it("takes its host and port from the environment", async () => {
    const started = run([], { PARLEY_NORMALIZER_HOST: "127.0.0.1", PARLEY_NORMALIZER_PORT: "0" });
    const listening = await waitForListening(started);
    expect(listening.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/normalizer$/);
    started.child.kill("SIGTERM");
    expect(await started.exited).to.equal(0);
  });

  it("prints usage for --help and exits 0", async () => {
    const started = run(["--help"]);
    expect(await started.exited).to.equal(0);
    expect(started.stdout.join("")).to.match(/^Usage: parley-normalizer \[--host HOST\] \[--port PORT\]/);
  });

  const usageErrors: [args: string[], env: NodeJS.ProcessEnv, message: string][] = [
    [["--bogus"], {}, "parley-normalizer: Unknown option '--bogus' (try --help)"],
    [["--port"], {}, "parley-normalizer: Option '--port <value>' argument missing (try --help)"],
    [
      ["--port", "http"],
      {},
      "parley-normalizer: --port must be a port number from 0 to 65535, not 'http' (try --help)",
    ],
    [
      ["--port", "70000"],
      {},
      "parley-normalizer: --port must be a port number from 0 to 65535, not '70000' (try --help)",
    ],
    [
      ["extra"],
      {},
      "parley-normalizer: Unexpected argument 'extra'. This command does not take positional arguments (try --help)",
    ],
    [
      [],
      { PARLEY_NORMALIZER_PORT: "-1" },
      "parley-normalizer: PARLEY_NORMALIZER_PORT must be a port number from 0 to 65535, not '-1' (try --help)",
    ],
  ];
  for (const [args, env, message] of usageErrors) {
    it(`exits 2 with one line on stderr for ${JSON.stringify(args)} ${JSON.stringify(env)}`, async () => {
      const started = run(args, env);
      expect(await started.exited).to.equal(2);
      expect(started.stderr.join("")).to.equal(`${message}\n`);
      expect(started.stdout.join("")).to.equal("");
    });
  }

  describe("when its port is taken", () => {
    let taken: NormalizerService;
    before(async () => {
      taken = await startNormalizerService({ host: "127.0.0.1", port: 0 });
    });
    after(async () => {
      await taken.close();
    });

    it("logs why and exits 1", async () => {
      const started = run(["--port", new URL(taken.url).port]);
      expect(await started.exited).to.equal(1);
      const [entry, ...rest] = lines(started.stdout).map(
        (line) => JSON.parse(line) as Record<string, unknown>,
      );
      expect(rest).to.deep.equal([]);
      expect(entry).to.include({ level: "error", msg: "normalizer could not start" });
      expect(entry!.error).to.match(/EADDRINUSE/);
    });
  });
});
