// Local time for the screen. The server speaks UTC; people read their own clock.

export interface TimeFormatOptions {
  /** A BCP 47 tag; the environment's locale when absent. */
  readonly locale?: string;
  /** An IANA zone; the system's zone when absent (tests pin it). */
  readonly timeZone?: string;
}

export class TimeFormat {
  readonly #time: Intl.DateTimeFormat;
  readonly #day: Intl.DateTimeFormat;
  readonly #dayKey: Intl.DateTimeFormat;
  readonly #shortDay: Intl.DateTimeFormat;

  constructor(options: TimeFormatOptions = {}) {
    const base = options.timeZone === undefined ? {} : { timeZone: options.timeZone };
    this.#time = new Intl.DateTimeFormat(options.locale, {
      ...base,
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    this.#day = new Intl.DateTimeFormat(options.locale, {
      ...base,
      weekday: "long",
      day: "numeric",
      month: "long",
      year: "numeric",
    });
    this.#shortDay = new Intl.DateTimeFormat(options.locale, { ...base, day: "numeric", month: "short" });
    // en-CA formats as YYYY-MM-DD: a sortable key for "same local day".
    this.#dayKey = new Intl.DateTimeFormat("en-CA", {
      ...base,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    });
  }

  /** "14:05" */
  time(iso: string): string {
    const date = parse(iso);
    return date === undefined ? "--:--" : this.#time.format(date);
  }

  /** "Tuesday 24 November 2026", as the locale writes it. */
  day(iso: string): string {
    const date = parse(iso);
    return date === undefined ? "" : this.#day.format(date);
  }

  /** The local calendar day, for day separators. */
  dayKey(iso: string): string {
    const date = parse(iso);
    return date === undefined ? "" : this.#dayKey.format(date);
  }

  /** A past moment relative to now: the time today, otherwise the date. */
  since(iso: string, now: Date): string {
    const date = parse(iso);
    if (date === undefined) return "";
    return this.#dayKey.format(date) === this.#dayKey.format(now)
      ? this.#time.format(date)
      : this.#shortDay.format(date);
  }
}

function parse(iso: string): Date | undefined {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
