const V = 51289;
const a = new Float32Array(3 * V); for (let i = 0; i < a.length; i++) a[i] = Math.random() * 30 - 20;
const cpu = () => process.cpuUsage().user / 1000;
function base(a: Float32Array, s: number, e: number, m: number) { let sum = 0; for (let i = s; i < e; i++) sum += a[i] - m; return sum; }
function mexp(a: Float32Array, s: number, e: number, m: number) { let sum = 0; for (let i = s; i < e; i++) sum += Math.exp(a[i] - m); return sum; }
const TAB = new Float64Array(4096); // exp(-j/64) for j in 0..4095 (down to -64)
for (let j = 0; j < 4096; j++) TAB[j] = Math.exp(-j / 64);
function texp(a: Float32Array, s: number, e: number, m: number) {
  let sum = 0;
  for (let i = s; i < e; i++) {
    const x = m - a[i]; // >= 0
    if (x >= 63.9) continue;
    const j = (x * 64) | 0; // floor
    const r = j / 64 - x; // in (-1/64, 0]
    sum += TAB[j] * (1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120))))));
  }
  return sum;
}
for (const [name, f] of [["base", base], ["Math.exp", mexp], ["table", texp]] as const) {
  for (let r = 0; r < 3; r++) { const t = cpu(); let s = 0; for (let k = 0; k < 50; k++) for (let b = 0; b < 3; b++) s += f(a, b * V, b * V + V, 10); console.log(name, ((cpu() - t) / 50).toFixed(3), s); }
}
let maxRel = 0; for (let i = 0; i < 200000; i++) { const x = Math.fround(-Math.random() * 60); const f = texp(new Float32Array([x]), 0, 1, 0); const e = Math.exp(x); maxRel = Math.max(maxRel, Math.abs(f - e) / e); } console.log("max rel err", maxRel);
