const V = 51289; const cpu = () => process.cpuUsage().user / 1000;
const a = new Float32Array(3 * V); for (let i = 0; i < a.length; i++) a[i] = Math.random() * 10;
const EXP_TABLE = Float64Array.from({ length: 4096 }, (_, j) => Math.exp(-j / 64));
function maxOnly(row: Float32Array, start: number, end: number) { let max = -Infinity; for (let i = start; i < end; i++) if (row[i] > max) max = row[i]; return max; }
function maxOnly2(row: Float32Array, start: number, end: number) { let max = -Infinity; for (let i = start; i < end; i++) { const v = row[i]; max = v > max ? v : max; } return max; }
function sumOnly(row: Float32Array, start: number, end: number, max: number) {
  let sum = 0;
  for (let i = start; i < end; i++) { const x = max - row[i]; if (x < 64) { const j = (x * 64) | 0; const r = j / 64 - x; sum += EXP_TABLE[j] * (1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120)))))); } }
  return sum;
}
for (const [n, f] of [["max", (s: number, e: number) => maxOnly(a, s, e)], ["max2", (s: number, e: number) => maxOnly2(a, s, e)], ["sum", (s: number, e: number) => sumOnly(a, s, e, 10)]] as const)
for (let r = 0; r < 3; r++) { const t = cpu(); let s = 0; for (let k = 0; k < 100; k++) for (let b = 0; b < 3; b++) s += f(b * V, b * V + V); console.log(n, ((cpu() - t) / 100).toFixed(3), s); }
function combined(row: Float32Array, start: number, end: number) { const m = maxOnly2(row, start, end); return m + Math.log(sumOnly(row, start, end, m)); }
for (let r = 0; r < 3; r++) { const t = cpu(); let s = 0; for (let k = 0; k < 100; k++) for (let b = 0; b < 3; b++) s += combined(a, b * V, b * V + V); console.log("combined", ((cpu() - t) / 100).toFixed(3), s); }
function inl(row: Float32Array, start: number, end: number) {
  let max = -Infinity; for (let i = start; i < end; i++) { const v = row[i]; max = v > max ? v : max; }
  let sum = 0;
  for (let i = start; i < end; i++) { const x = max - row[i]; if (x < 64) { const j = (x * 64) | 0; const r = j / 64 - x; sum += EXP_TABLE[j] * (1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120)))))); } }
  return max + Math.log(sum);
}
for (let r = 0; r < 3; r++) { const t = cpu(); let s = 0; for (let k = 0; k < 100; k++) for (let b = 0; b < 3; b++) s += inl(a, b * V, b * V + V); console.log("inline", ((cpu() - t) / 100).toFixed(3), s); }
