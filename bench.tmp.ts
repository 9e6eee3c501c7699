import { BeamSearch } from "./src/beam-search";
import { LogitsProcessor } from "./src/logits";
const V = 51289, B = 3, steps = 300;
const proc = new LogitsProcessor({ noRepeatNgramSize: 3, forcedBosTokenId: 0, forcedEosTokenId: 2, maxLength: 1025 });
const logits = new Float32Array(B * V);
let seed = 1; const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
for (let i = 0; i < logits.length; i++) logits[i] = rnd() * 10;
for (let i = 0; i < B; i++) logits[i * V + 2] = -100;
for (let rep = 0; rep < 3; rep++) {
  const bs = new BeamSearch({ numBeams: B, vocabSize: V, eosTokenId: 2, lengthPenalty: 1, earlyStopping: true, maxLength: 1025 }, [2]);
  const t = process.cpuUsage().user / 1000;
  for (let s = 0; s < steps; s++) { for (let i = 0; i < 50; i++) logits[Math.floor(rnd() * logits.length)] = rnd() * 12; bs.step(logits, proc); }
  console.log("ms/step", (process.cpuUsage().user / 1000 - t) / steps, bs.sequences[0].length);
}
