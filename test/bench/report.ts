// The bench's results: one row per figure, with the machine limit it is bounded by, the ratio
// to that limit and the target; printed as a table and written as JSON.

export interface Bound {
  /** What the limit is, e.g. "fsync (1 row per commit)". */
  readonly label: string;
  readonly value: number;
  readonly unit: string;
}

export interface Target {
  readonly op: ">=" | "<=";
  readonly value: number;
  readonly unit: string;
}

export interface Row {
  readonly scenario: string;
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  readonly boundedBy: Bound | null;
  /** value / boundedBy.value; for a time, how many times the floor; for a rate, the share of the ceiling. */
  readonly ratio: number | null;
  readonly target: (Target & { readonly met: boolean }) | null;
  readonly note?: string;
}

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly kernel: string;
  readonly tempDir: string;
  readonly diskFreeBytes: number;
  readonly openFileLimit: string;
}

export interface Report {
  readonly startedAt: string;
  readonly quick: boolean;
  readonly machine: MachineInfo;
  readonly notes: string[];
  readonly rows: Row[];
  readonly failures: Array<{ readonly scenario: string; readonly error: string }>;
  readonly profiles: Array<{ readonly scenario: string; readonly file: string }>;
  /** The --peers comparison, when it ran. */
  readonly comparison?: ComparedFigure[];
}

export function makeRow(
  scenario: string,
  figure: string,
  value: number,
  unit: string,
  options: { bound?: Bound | undefined; target?: Target | undefined; note?: string } = {},
): Row {
  const bound = options.bound ?? null;
  const target = options.target ?? null;
  return {
    scenario,
    figure,
    value,
    unit,
    boundedBy: bound,
    ratio: bound === null || !(bound.value > 0) ? null : value / bound.value,
    target:
      target === null
        ? null
        : { ...target, met: target.op === ">=" ? value >= target.value : value <= target.value },
    ...(options.note === undefined ? {} : { note: options.note }),
  };
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatRatio(ratio: number | null): string {
  if (ratio === null) return "";
  return ratio >= 10
    ? `${ratio.toFixed(0)}×`
    : ratio >= 0.1
      ? `${ratio.toFixed(2)}×`
      : `${ratio.toFixed(3)}×`;
}

function formatTarget(target: Row["target"]): string {
  if (target === null) return "";
  const op = target.op === ">=" ? "≥" : "≤";
  return `${op} ${formatNumber(target.value)} ${target.unit}: ${target.met ? "met" : "NOT MET"}`;
}

export function formatTable(rows: readonly Row[]): string {
  const header = ["scenario", "figure", "value", "bounded by", "ratio", "target"];
  const cells = rows.map((row) => [
    row.scenario,
    row.figure,
    `${formatNumber(row.value)} ${row.unit}`,
    row.boundedBy === null
      ? ""
      : `${row.boundedBy.label} ${formatNumber(row.boundedBy.value)} ${row.boundedBy.unit}`,
    formatRatio(row.ratio),
    formatTarget(row.target),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((line) => [...line[column]!].length)),
  );
  const pad = (text: string, width: number, right: boolean) => {
    const fill = " ".repeat(Math.max(0, width - [...text].length));
    return right ? fill + text : text + fill;
  };
  const line = (values: readonly string[]) =>
    `| ${values.map((value, column) => pad(value, widths[column]!, column === 2 || column === 4)).join(" | ")} |`;
  const rule = `|${widths.map((width, column) => (column === 2 || column === 4 ? `${"-".repeat(width + 1)}:` : "-".repeat(width + 2))).join("|")}|`;
  return [line(header), rule, ...cells.map(line)].join("\n");
}

export function formatMachine(machine: MachineInfo): string {
  const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  return [
    `machine: ${machine.cpu}, ${machine.cores} cores, ${gib(machine.memoryBytes)} RAM, Linux ${machine.kernel}`,
    `node ${machine.node}; temp folder ${machine.tempDir} (${gib(machine.diskFreeBytes)} free); open files ${machine.openFileLimit}`,
  ].join("\n");
}

/** The systems of the --peers comparison, in column order. */
export const SYSTEMS = ["parley", "rabbitmq", "mosquitto"] as const;
export type System = (typeof SYSTEMS)[number];
const SYSTEM_LABELS: Readonly<Record<System, string>> = {
  parley: "Parley",
  rabbitmq: "RabbitMQ",
  mosquitto: "Mosquitto",
};

/** A figure of one system: a value, or why there is none ("unreachable: …", "failed: …"). */
export type Cell = { readonly value: number; readonly caveat?: string } | { readonly missing: string };

export interface ComparedFigure {
  readonly scenario: string;
  readonly figure: string;
  readonly unit: string;
  /** Which way is better, so that a reader knows how to read the ratio. */
  readonly better: "higher" | "lower";
  readonly cells: Partial<Record<System, Cell>>;
}

function formatCell(cell: Cell | undefined, unit: string): string {
  if (cell === undefined) return "not run";
  if (!("value" in cell)) return cell.missing;
  const text = `${formatNumber(cell.value)} ${unit}`;
  return cell.caveat === undefined ? text : `${text} (${cell.caveat})`;
}

function comparedRatio(row: ComparedFigure, peer: System): string {
  const parley = row.cells.parley;
  const other = row.cells[peer];
  if (parley === undefined || other === undefined || !("value" in parley) || !("value" in other)) return "";
  return other.value > 0 ? formatRatio(parley.value / other.value) : "";
}

/** One column per system and one ratio column (Parley / peer) per peer. */
export function formatComparison(rows: readonly ComparedFigure[]): string {
  const peers = SYSTEMS.filter((system) => system !== "parley");
  const header = [
    "scenario",
    "figure",
    "better",
    ...SYSTEMS.map((system) => SYSTEM_LABELS[system]),
    ...peers.map((peer) => `Parley / ${SYSTEM_LABELS[peer]}`),
  ];
  const numeric = (column: number) => column >= 3;
  const cells = rows.map((row) => [
    row.scenario,
    row.figure,
    row.better,
    ...SYSTEMS.map((system) => formatCell(row.cells[system], row.unit)),
    ...peers.map((peer) => comparedRatio(row, peer)),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((line) => [...line[column]!].length)),
  );
  const pad = (text: string, width: number, right: boolean) => {
    const fill = " ".repeat(Math.max(0, width - [...text].length));
    return right ? fill + text : text + fill;
  };
  const line = (values: readonly string[]) =>
    `| ${values.map((value, column) => pad(value, widths[column]!, numeric(column))).join(" | ")} |`;
  const rule = `|${widths.map((width, column) => (numeric(column) ? `${"-".repeat(width + 1)}:` : "-".repeat(width + 2))).join("|")}|`;
  return [line(header), rule, ...cells.map(line)].join("\n");
}

/**
 * One row per figure, one column per scenario label (e.g. "live sqlite/1", "live postgres/2"):
 * the same scenario on different setups, side by side. A figure a setup has not got is blank.
 */
export function formatSideBySide(rows: readonly Row[], scenarios: readonly string[]): string {
  const values = new Map<string, string>();
  const perScenario = new Map<string, string[]>(scenarios.map((scenario) => [scenario, []]));
  for (const row of rows) {
    const own = perScenario.get(row.scenario);
    if (own === undefined) continue;
    own.push(row.figure);
    values.set(`${row.scenario}\n${row.figure}`, `${formatNumber(row.value)} ${row.unit}`);
  }
  // In the order of the setup with the most figures, then any the others add.
  const lists = [...perScenario.values()].sort((a, b) => b.length - a.length);
  const figures = [...new Set(lists.flat())];
  const header = ["figure", ...scenarios];
  const cells = figures.map((figure) => [
    figure,
    ...scenarios.map((scenario) => values.get(`${scenario}\n${figure}`) ?? ""),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((line) => [...line[column]!].length)),
  );
  const pad = (text: string, width: number, right: boolean) => {
    const fill = " ".repeat(Math.max(0, width - [...text].length));
    return right ? fill + text : text + fill;
  };
  const line = (texts: readonly string[]) =>
    `| ${texts.map((text, column) => pad(text, widths[column]!, column > 0)).join(" | ")} |`;
  const rule = `|${widths.map((width, column) => (column > 0 ? `${"-".repeat(width + 1)}:` : "-".repeat(width + 2))).join("|")}|`;
  return [line(header), rule, ...cells.map(line)].join("\n");
}
