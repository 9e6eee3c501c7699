import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { Worker } from "node:worker_threads";
import { formatCellTimes, formatPercentG, formatTime, startTimer, time } from "../../src/notebook/timing";

const SYSTEM_PYTHON = "/usr/bin/python3";

/** Runs IPython's own `_format_time` on each value; undefined (with the reason) when IPython is not there. */
function ipythonFormatTimes(values: readonly number[]): { outputs?: string[]; reason?: string } {
  if (!fs.existsSync(SYSTEM_PYTHON)) return { reason: `${SYSTEM_PYTHON} is missing` };
  const script = [
    "import json, sys",
    "from IPython.core.magics.execution import _format_time",
    "print(json.dumps([_format_time(v) for v in json.load(sys.stdin)]))",
  ].join("\n");
  // UTF-8 stdout makes IPython choose "µs", as it does in a Jupyter kernel.
  const run = spawnSync(SYSTEM_PYTHON, ["-c", script], {
    input: JSON.stringify(values),
    encoding: "utf8",
    env: { ...process.env, PYTHONIOENCODING: "utf-8" },
  });
  if (run.status !== 0) return { reason: `IPython's _format_time is not importable: ${run.stderr.trim().split("\n").pop()}` };
  return { outputs: JSON.parse(run.stdout) as string[] };
}

/** Values around every place where _format_time changes behaviour, plus a deterministic log-uniform sweep. */
function valuesToCompare(): number[] {
  const values = [
    0, 1e-9, 999e-9, 1e-6, 1.234e-3, 0.9995, 1, 59.99, 60, 75.4, 3600, 86400, 90061.5, 1e-10, 1e-13, 1e-14,
    1.125, 0.125, 0.03125, 2.5e-3, 59.9999, 60.5, 119.99, 3599.5, 3661, 1e6, 0.0009999999999999998, 1e-3,
    999.5e-9, 0.0009995, 9.995e-4, 0.1, 0.01, 10, 59.5, 61, 3599.99, 86399.9, 172800.25, -1, -0.5,
  ];
  for (let exponent = -12; exponent <= 2; exponent++) {
    for (const mantissa of [1, 1.0049, 1.005, 1.0051, 2.5, 4.445, 9.9949, 9.995, 9.9951, 9.99999]) {
      values.push(mantissa * 10 ** exponent);
    }
  }
  let state = 12345;
  for (let i = 0; i < 400; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values.push(10 ** (-10 + (state / 2147483648) * 16));
  }
  // process.cpuUsage() counts whole microseconds, so timer figures are n / 1e6.
  for (let i = 0; i < 200; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values.push((state % 5_000_000) / 1e6);
  }
  return values;
}

describe("timing", () => {
  describe("formatTime", () => {
    it("matches IPython's _format_time string for string over a wide range of values", function () {
      const values = valuesToCompare();
      const { outputs, reason } = ipythonFormatTimes(values);
      if (!outputs) {
        console.log(`      skipped: ${reason}; the table of IPython outputs below still runs`);
        this.skip();
      }
      const mismatches = values
        .map((value, i) => ({ value, ours: formatTime(value), ipython: outputs[i] }))
        .filter((row) => row.ours !== row.ipython);
      assert.deepEqual(mismatches, [], `${mismatches.length} of ${values.length} values differ`);
    });

    it("gives the outputs IPython 8.5 printed for a table of values", () => {
      const table: [number, string][] = [
        [0, "0 ns"],
        [1e-9, "1 ns"],
        [999e-9, "999 ns"],
        [1e-6, "1 µs"],
        [1.234e-3, "1.23 ms"],
        [0.9995, "1e+03 ms"],
        [1, "1 s"],
        [1.125, "1.12 s"],
        [59.99, "60 s"],
        [60, "1min"],
        [60.5, "1min"],
        [75.4, "1min 15s"],
        [119.99, "1min 59s"],
        [3600, "1h"],
        [3661, "1h 1min 1s"],
        [86400, "1d"],
        [90061.5, "1d 1h 1min 1s"],
        [1e6, "11d 13h 46min 40s"],
        [1e-10, "0.1 ns"],
        [1e-13, "0.0001 ns"],
        [1e-14, "1e-05 ns"],
        [0.03125, "31.2 ms"],
        [0.0009999999999999998, "1 ms"],
        [-1, "-1e+09 ns"],
        [Number.NaN, "nan ns"],
      ];
      for (const [value, expected] of table) assert.equal(formatTime(value), expected, `formatTime(${value})`);
    });

    it("rejects what Python cannot format either, naming the input", () => {
      assert.throws(() => formatTime(Infinity), /finite number of seconds.*Infinity/);
      assert.throws(() => formatTime("1" as unknown as number), /number of seconds for formatTime but received "1"/);
    });
  });

  describe("formatPercentG", () => {
    it("follows Python's %g notation threshold and half-even ties", () => {
      assert.equal(formatPercentG(123456, 3), "1.23e+05");
      assert.equal(formatPercentG(0.00012345, 3), "0.000123");
      assert.equal(formatPercentG(0.000012345, 3), "1.23e-05");
      assert.equal(formatPercentG(2.5, 1), "2");
      assert.equal(formatPercentG(3.5, 1), "4");
      assert.equal(formatPercentG(100, 3), "100");
      assert.equal(formatPercentG(999.5, 3), "1e+03");
      assert.equal(formatPercentG(1.5, 0), "2");
    });
  });

  describe("formatCellTimes", () => {
    it("writes IPython's two %%time lines", () => {
      assert.equal(
        formatCellTimes({ user: 2.61, sys: 0.312, total: 2.922, wall: 75.4 }),
        "CPU times: user 2.61 s, sys: 312 ms, total: 2.92 s\nWall time: 1min 15s",
      );
    });
  });

  describe("time", () => {
    it("returns the value of sync and async work and prints the two lines for its times", async () => {
      const printed: string[] = [];
      const sync = await time(() => 42, { print: (text) => printed.push(text) });
      assert.equal(sync.value, 42);
      const slept = await time(
        () => new Promise<string>((resolve) => setTimeout(() => resolve("done"), 60)),
        { print: (text) => printed.push(text) },
      );
      assert.equal(slept.value, "done");
      assert.ok(slept.times.wall >= 0.055, `wall ${slept.times.wall} s for a 60 ms sleep`);
      assert.equal(printed.length, 2);
      assert.equal(printed[1], formatCellTimes(slept.times));
      assert.match(printed[1], /^CPU times: user [^,]+, sys: [^,]+, total: [^,]+\nWall time: \S+ \S+$/);
    });

    it("prints to stdout by default and nothing with print: false", async () => {
      const lines: string[] = [];
      const original = console.log;
      console.log = (...args: unknown[]) => lines.push(args.join(" "));
      try {
        await time(() => undefined);
        await time(() => undefined, { print: false });
      } finally {
        console.log = original;
      }
      assert.equal(lines.length, 1);
      assert.match(lines[0], /^CPU times: user .*\nWall time: /);
    });

    it("counts CPU time of every thread of the process, like getrusage(RUSAGE_SELF)", async () => {
      const spin = (iterations: number) => {
        let x = 0;
        for (let i = 0; i < iterations; i++) x = (x * 31 + i) % 1000003;
        return x;
      };
      // Calibrate on this thread: how many iterations take about 150 ms of CPU.
      let iterations = 0;
      const calibration = startTimer();
      while (calibration.stop().user < 0.15) {
        spin(1_000_000);
        iterations += 1_000_000;
      }
      const mainThreadCpu = calibration.stop().total;
      const source = `const { parentPort, workerData } = require("node:worker_threads");
        let x = 0; for (let i = 0; i < workerData; i++) x = (x * 31 + i) % 1000003;
        parentPort.postMessage(x);`;
      const { times } = await time(
        () =>
          new Promise((resolve, reject) => {
            const worker = new Worker(source, { eval: true, workerData: iterations });
            worker.once("message", resolve);
            worker.once("error", reject);
          }),
        { print: false },
      );
      // The main thread only waited, so most of this CPU time was spent on the worker thread.
      assert.ok(times.total >= 0.5 * mainThreadCpu, `timer saw ${times.total} s CPU; the work takes ${mainThreadCpu} s`);
    });

    it("lets errors of the work propagate and prints nothing, like %%time on a failing cell", async () => {
      const printed: string[] = [];
      await assert.rejects(
        time(async () => {
          throw new Error("model failed");
        }, { print: (text) => printed.push(text) }),
        /model failed/,
      );
      assert.deepEqual(printed, []);
    });

    it("explains a call without a function", async () => {
      await assert.rejects(time(42 as unknown as () => number), /Expected a function for time\(work\) but received 42/);
    });
  });

  describe("startTimer", () => {
    it("measures from the start each time stop() is called, with total = user + sys", async () => {
      const timer = startTimer();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const first = timer.stop();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const second = timer.stop();
      assert.ok(first.wall >= 0.015 && second.wall >= first.wall + 0.015, `${first.wall} then ${second.wall}`);
      assert.equal(second.total, second.user + second.sys);
    });
  });
});
