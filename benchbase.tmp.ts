import * as ort from "onnxruntime-node";
import { readGenerationConfig, readModelConfig } from "./src/config";
import { generate, runTextEncoder } from "./src/generation";
import { openSessions } from "./src/sessions";
const folder = "/tmp/eng-base";
const argv = process.argv.slice(2);
const threads = Number(argv[0] ?? 2);
const maxNew = Number(argv[1] ?? 100);
const memPattern = argv[2] === "mp";
(async () => {
  const config = readModelConfig(folder);
  const tokens = readGenerationConfig(folder);
  const s = await openSessions(folder, config, { intraOpNumThreads: threads, ...(memPattern ? { sessionOptions: { enableMemPattern: true } } : {}) });
  const feats = new ort.Tensor("float32", new Float32Array(577 * 768).map((_, i) => Math.sin(i * 0.01)), [1, 577, 768]);
  const prompt = [0, 2264, 473, 5, 2274, 6190, 116, 2];
  let t = performance.now();
  const enc = await runTextEncoder(s, feats, prompt);
  console.log("encoder ms", (performance.now() - t).toFixed(1));
  for (const nb of [1, 3, 1, 3]) {
    const cpu0 = process.cpuUsage();
    const r = await generate(s, enc, tokens, 1024, { numBeams: nb, maxNewTokens: maxNew, earlyStopping: true, lengthPenalty: 1, noRepeatNgramSize: 3 });
    const cpu = process.cpuUsage(cpu0);
    const st = r.stats;
    console.log(`beams ${nb} threads ${threads} steps ${st.steps} len ${r.ids.length} decoder ${st.decoderMs.toFixed(0)}ms per-step ${(st.decoderMs / st.steps).toFixed(2)} session/step ${(st.sessionMs / st.steps).toFixed(2)} search ${(100 * st.searchMs / st.decoderMs).toFixed(2)}% (${(st.searchMs / st.steps).toFixed(2)}ms/step) cache ${(100 * st.cacheMs / st.decoderMs).toFixed(2)}% copies ${st.cacheRowCopies} other ${(100 * (st.decoderMs - st.sessionMs - st.searchMs - st.cacheMs) / st.decoderMs).toFixed(2)}% cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)}ms`);
  }
  await s.release();
})();
