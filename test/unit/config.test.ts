import { expect } from "chai";
import { DEFAULTS, FLAGS, parseCommandLine, UsageError, usage } from "../../server/config.js";

describe("command line and environment (unit)", () => {
  it("uses the documented defaults", () => {
    const parsed = parseCommandLine([], {});
    expect(parsed).to.deep.equal({ help: false, config: DEFAULTS });
    expect(DEFAULTS).to.include({ host: "127.0.0.1", port: 7878, maxPending: 10_000, maxInFlight: 1024 });
  });

  it("reads flags, and flags win over PARLEY_ variables", () => {
    const parsed = parseCommandLine(["--port", "7900", "--message-ttl-days", "0.5"], {
      PARLEY_PORT: "1234",
      PARLEY_MAX_PENDING: "5",
      PARLEY_LOG_LEVEL: "debug",
    });
    if (parsed.help) throw new Error("unexpected help");
    expect(parsed.config.port).to.equal(7900);
    expect(parsed.config.maxPending).to.equal(5);
    expect(parsed.config.logLevel).to.equal("debug");
    expect(parsed.config.messageTtlMs).to.equal(12 * 3600 * 1000);
  });

  it("reads --retention-days and --min-free-disk-mb, off and 100 MiB by default", () => {
    expect(DEFAULTS).to.include({ retentionMs: 0, minFreeDiskBytes: 100 * 1024 * 1024 });
    const parsed = parseCommandLine(["--retention-days", "0.5"], { PARLEY_MIN_FREE_DISK_MB: "0" });
    if (parsed.help) throw new Error("unexpected help");
    expect(parsed.config.retentionMs).to.equal(12 * 3600 * 1000);
    expect(parsed.config.minFreeDiskBytes).to.equal(0);
  });

  for (const [argv, fragment] of [
    [["--port", "x"], "--port (or PARLEY_PORT) must be a whole number"],
    [["--port", "70000"], "at most 65535"],
    [["--max-pending", "0"], "at least 1"],
    [["--log-level", "loud"], "must be one of"],
    [["--bogus"], "Unknown option"],
    [["--scrypt-cost", "1000"], "power of two"],
  ] as const) {
    it(`refuses ${argv.join(" ")} with a clear message`, () => {
      expect(() => parseCommandLine(argv, {})).to.throw(UsageError, fragment);
    });
  }

  describe("every numeric flag, given a bad value, is refused in one line", () => {
    const numeric = Object.entries(FLAGS).filter(
      ([, spec]) => spec.kind === "integer" || spec.kind === "number",
    );
    for (const [flag, spec] of numeric) {
      it(`--${flag}`, () => {
        const values = ["-5", "-1e9", "abc", "", " ", "NaN", "Infinity", "99999999999999999999"];
        if (spec.kind === "integer") values.push("1.5");
        for (const value of values) {
          for (const argv of [[`--${flag}`, value], [`--${flag}=${value}`]]) {
            const refusal = () => parseCommandLine(argv, {});
            expect(refusal, JSON.stringify(argv)).to.throw(UsageError);
            try {
              refusal();
            } catch (error) {
              const { message } = error as Error;
              expect(message, JSON.stringify(argv)).not.to.contain("\n");
              expect(message, JSON.stringify(argv)).to.contain(`--${flag}`);
            }
          }
        }
      });
    }
  });

  it("takes TLS files only together", () => {
    const parsed = parseCommandLine(["--tls-cert", "c.pem", "--tls-key", "k.pem"], {});
    expect(parsed).to.deep.include({ help: false });
    expect(() => parseCommandLine(["--tls-cert", "c.pem"], {})).to.throw(UsageError, "go together");
  });

  it("has a flag and a variable for every setting", () => {
    const keys = new Set(Object.values(FLAGS).map((flag) => flag.key));
    expect([...keys].sort()).to.deep.equal(Object.keys(DEFAULTS).sort());
  });

  it("documents every flag with its variable in --help", () => {
    const text = usage();
    for (const flag of [
      "--host",
      "--port",
      "--db",
      "--max-pending",
      "--max-text-chars",
      "--max-frame-bytes",
    ]) {
      expect(text).to.include(flag);
    }
    expect(text).to.include("PARLEY_IDLE_TIMEOUT_MS");
    expect(parseCommandLine(["--help"], {})).to.deep.equal({ help: true });
  });
});
