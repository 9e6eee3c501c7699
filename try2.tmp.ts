import * as os from "node:os"; import * as path from "node:path"; import * as fs from "node:fs";
import sharp from "sharp";
import { writeStandInModel } from "./test/standin";
import { Florence2 } from "./src/florence2";
import { Florence2Tokenizer } from "./src/tokenizer";
(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eng-"));
  const base = await writeStandInModel(path.join(dir, "tok"), { tokenizer: "auto" });
  const tok = Florence2Tokenizer.fromFolder(base.folder);
  const text = "car<loc_53><loc_333><loc_933><loc_774>wheel<loc_704><loc_576><loc_866><loc_772>";
  const script = tok.encode(text);
  console.log(base.tokenizer, script);
  const info = await writeStandInModel(path.join(dir, "m"), { script, tokenizer: "auto" });
  const model = await Florence2.load(info.folder);
  const img = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toBuffer();
  for (let i = 0; i < 3; i++) {
    const out = await model.run(img, "<OD>", undefined, { numBeams: i === 2 ? 1 : 3 });
    console.log(JSON.stringify(out.result), out.text, out.timings);
  }
  await model.dispose();
})();
