/**
 * A `%%time` for tslab, which has no magics: `await time(() => work())` runs the work, prints the same two
 * lines as IPython's `%%time`, and returns the work's value with the measured times.
 *
 *   CPU times: user 2.61 s, sys: 312 ms, total: 2.92 s
 *   Wall time: 1.48 s
 *
 * Like IPython (`IPython.utils.timing.clock2`, i.e. `getrusage(RUSAGE_SELF)`), CPU time is the whole
 * process's: `process.cpuUsage()` is the same call, so onnxruntime's worker threads count and user time can
 * exceed wall time.
 */
import { describeValue } from "../util/describe";

/** Times of one piece of work, in seconds. */
export interface CellTimes {
  /** CPU time in user mode, all threads of the process. */
  user: number;
  /** CPU time in the kernel on the process's behalf, all threads. */
  sys: number;
  /** `user + sys`. */
  total: number;
  /** Elapsed real time. */
  wall: number;
}

export interface Timed<T> {
  /** What the work returned (awaited when it was a promise). */
  value: T;
  times: CellTimes;
}

export interface TimeOptions {
  /**
   * Where the two lines go: `console.log` by default (a tslab cell's stdout), a function to collect them, or
   * `false` to print nothing and only return the times.
   */
  print?: ((text: string) => void) | false;
}

/** A running measurement: `stop()` gives the times since `startTimer()`; it can be called more than once. */
export interface Timer {
  stop(): CellTimes;
}

/** IPython's `_format_time` default: three significant digits. */
const IPYTHON_PRECISION = 3;

/** `_format_time`'s units and their scale from seconds; IPython picks "µs" when stdout can encode it (Jupyter: UTF-8). */
const SUBSECOND_UNITS: readonly { unit: string; scale: number }[] = [
  { unit: "s", scale: 1 },
  { unit: "ms", scale: 1e3 },
  { unit: "µs", scale: 1e6 },
  { unit: "ns", scale: 1e9 },
];

/** `_format_time`'s parts for spans of a minute or more, largest first. */
const LONG_UNITS: readonly { suffix: string; seconds: number }[] = [
  { suffix: "d", seconds: 86400 },
  { suffix: "h", seconds: 3600 },
  { suffix: "min", seconds: 60 },
  { suffix: "s", seconds: 1 },
];

/**
 * IPython's `_format_time(timespan, precision=3)` (IPython/core/magics/execution.py), string for string:
 * `"0 ns"`, `"999 ns"`, `"1.23 ms"`, `"1e+03 ms"` (for 0.9995 s: 999.5 rounds up but the unit was already
 * chosen), `"60 s"` (59.99 s), `"1min 15s"`, `"1h"`, `"1d 1h 1min 1s"`.
 */
export function formatTime(seconds: number, precision: number = IPYTHON_PRECISION): string {
  if (typeof seconds !== "number") {
    throw new TypeError(`Expected a number of seconds for formatTime but received ${describeValue(seconds)}`);
  }
  if (seconds === Infinity) {
    // Python's int(inf) raises OverflowError here too.
    throw new RangeError("Expected a finite number of seconds for formatTime but received Infinity");
  }
  if (seconds >= 60) return formatLongSpan(seconds);
  // The unit comes from the unrounded value's decade, as in IPython: min(-int(floor(log10(t)) // 3), 3).
  const order = seconds > 0 ? Math.min(0 - Math.floor(Math.floor(Math.log10(seconds)) / 3), 3) : 3;
  const { unit, scale } = SUBSECOND_UNITS[order];
  return `${formatPercentG(seconds * scale, precision)} ${unit}`;
}

function formatLongSpan(seconds: number): string {
  const parts: string[] = [];
  let leftover = seconds;
  for (const { suffix, seconds: length } of LONG_UNITS) {
    const value = Math.trunc(leftover / length);
    if (value > 0) {
      leftover = leftover % length;
      parts.push(`${value}${suffix}`);
    }
    // IPython stops as soon as less than a second is left, so 60.5 s is "1min" and 119.99 s "1min 59s".
    if (leftover < 1) break;
  }
  return parts.join(" ");
}

/**
 * Python's `"%.*g" % (precision, value)`: round to `precision` significant digits (half to even on the
 * exact binary value, like Python's correctly rounded repr), then fixed notation when the decimal exponent
 * is in [-4, precision), else `1e+03` style; trailing zeros removed. JavaScript's `toPrecision` differs in
 * both the notation threshold and ties (`(1.125).toPrecision(3)` is "1.13", Python gives "1.12").
 */
export function formatPercentG(value: number, precision: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  const p = Math.max(1, Math.floor(precision));
  const sign = value < 0 || Object.is(value, -0) ? "-" : "";
  if (value === 0) return `${sign}0`;
  const { digits, exponent } = roundHalfEven(exactDigits(Math.abs(value)), p);
  if (exponent >= -4 && exponent < p) {
    const point = exponent + 1;
    const fixed =
      point <= 0
        ? `0.${"0".repeat(-point)}${digits}`
        : point >= digits.length
          ? digits + "0".repeat(point - digits.length)
          : `${digits.slice(0, point)}.${digits.slice(point)}`;
    return sign + stripFractionZeros(fixed);
  }
  const mantissa = stripFractionZeros(digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits);
  const exponentText = String(Math.abs(exponent)).padStart(2, "0");
  return `${sign}${mantissa}e${exponent < 0 ? "-" : "+"}${exponentText}`;
}

interface DecimalDigits {
  /** Significant digits, no leading zero. */
  digits: string;
  /** Decimal exponent of the first digit. */
  exponent: number;
}

/**
 * The decimal digits of a positive double. `toExponential(100)` is correctly rounded at 101 digits, which
 * holds every digit of the values formatted here (a double in [1e-3, 1e3) has at most about 60), so an
 * exact tie shows as "5" followed by zeros only.
 */
function exactDigits(value: number): DecimalDigits {
  const [mantissa, exponentText] = value.toExponential(100).split("e");
  return { digits: mantissa.replace(".", ""), exponent: Number(exponentText) };
}

function roundHalfEven({ digits, exponent }: DecimalDigits, precision: number): DecimalDigits {
  const kept = digits.slice(0, precision);
  const rest = digits.slice(precision);
  const firstDropped = rest.length > 0 ? rest.charCodeAt(0) - 48 : 0;
  const exactHalf = firstDropped === 5 && /^0*$/.test(rest.slice(1));
  const lastKeptOdd = (kept.charCodeAt(kept.length - 1) - 48) % 2 === 1;
  const roundUp = firstDropped > 5 || (firstDropped === 5 && (!exactHalf || lastKeptOdd));
  if (!roundUp) return { digits: kept, exponent };
  const incremented = (BigInt(kept) + 1n).toString();
  // 999 -> 1000: one more decade, same number of significant digits.
  return incremented.length > kept.length
    ? { digits: incremented.slice(0, precision), exponent: exponent + 1 }
    : { digits: incremented, exponent };
}

function stripFractionZeros(text: string): string {
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

/** IPython's two `%%time` lines for these times (Unix form: user, sys and total). */
export function formatCellTimes(times: CellTimes): string {
  return (
    `CPU times: user ${formatTime(times.user)}, sys: ${formatTime(times.sys)}, total: ${formatTime(times.total)}\n` +
    `Wall time: ${formatTime(times.wall)}`
  );
}

/** Starts measuring whole-process CPU time and wall time now. */
export function startTimer(): Timer {
  const cpuStart = process.cpuUsage();
  const wallStart = process.hrtime.bigint();
  return {
    stop(): CellTimes {
      // process.cpuUsage is getrusage(RUSAGE_SELF) in microseconds.
      const cpu = process.cpuUsage(cpuStart);
      const wallNs = process.hrtime.bigint() - wallStart;
      const user = cpu.user / 1e6;
      const sys = cpu.system / 1e6;
      return { user, sys, total: user + sys, wall: Number(wallNs) / 1e9 };
    },
  };
}

/**
 * Runs `work` (sync or async), prints IPython's `%%time` lines, and returns the value with the times.
 * When the work throws, the error propagates and nothing is printed, as with `%%time` on a failing cell.
 *
 *   const { value: out } = await time(() => model.run(image, "<OD>"));
 */
export async function time<T>(work: () => T | Promise<T>, options: TimeOptions = {}): Promise<Timed<T>> {
  if (typeof work !== "function") {
    throw new TypeError(
      `Expected a function for time(work) but received ${describeValue(work)}: ` +
        "pass the work as a function, e.g. time(() => model.run(image, task)).",
    );
  }
  const print = options.print === undefined ? (text: string) => console.log(text) : options.print;
  const timer = startTimer();
  const value = await work();
  const times = timer.stop();
  if (print) print(formatCellTimes(times));
  return { value, times };
}
