import { logSumExp, LogitsProcessor } from "./src/logits";
const V = 51289; const cpu = () => process.cpuUsage().user / 1000;
const a = new Float32Array(3 * V); for (let i = 0; i < a.length; i++) a[i] = Math.random() * 10;
for (let r = 0; r < 3; r++) { const t = cpu(); let s = 0; for (let k = 0; k < 100; k++) for (let b = 0; b < 3; b++) s += logSumExp(a, b * V, b * V + V); console.log("lse", ((cpu() - t) / 100).toFixed(3)); }
const p = new LogitsProcessor({ noRepeatNgramSize: 3, forcedBosTokenId: 0, forcedEosTokenId: 2, maxLength: 1025 });
const ids = Array.from({ length: 300 }, (_, i) => (i * 7919) % 51289);
for (let r = 0; r < 3; r++) { const t = cpu(); let s = 0; for (let k = 0; k < 100; k++) for (let b = 0; b < 3; b++) s += p.bannedTokens(ids).length; console.log("bans", ((cpu() - t) / 100).toFixed(3)); }
