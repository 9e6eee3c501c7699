import { writeStandInModel } from "./test/standin";
(async () => {
  const t = Date.now();
  const ids = Array.from({ length: 40 }, (_, i) => 50269 + i * 7).concat([10, 11, 12, 13, 14, 15]);
  const info = await writeStandInModel("/tmp/eng-base", { size: "base", restrictTo: ids, tokenizer: "generated" });
  console.log(Date.now() - t, info.files);
})();
