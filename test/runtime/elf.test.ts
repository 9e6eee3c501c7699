/**
 * The ELF64 dynamic-section reader against libraries cc builds with chosen DT_NEEDED, RUNPATH and RPATH, against
 * binutils' readelf on onnxruntime-node's own binding, and against files that are not what it reads.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ElfError, bufferReader, readElfDynamic, readElfDynamicFile } from "../../src/runtime/elf";
import { ortBindingFolder } from "../../src/runtime/cuda-provider";
import { buildLibrary, ccAvailable } from "../support/fake-cuda";

describe("runtime/elf", function () {
  let dir: string;
  before(function () {
    if (!ccAvailable()) {
      console.log("      (skipped: no cc to build test libraries; apt-get install build-essential)");
      this.skip();
    }
  });
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "elf-test-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads DT_NEEDED in link order, DT_SONAME and DT_RUNPATH", function () {
    const needed = ["libcublasLt.so.13", "libcublas.so.13", "libcudart.so.13", "libcurand.so.10"];
    const file = buildLibrary(dir, "libprovider.so", { soname: "libprovider.so", needed, runpath: "$ORIGIN:/opt/cuda/lib64" });
    const dyn = readElfDynamicFile(file);
    // cc adds libc.so.6 (and possibly others) after the stubs; the chosen ones come first, in order.
    assert.deepEqual(dyn.needed.slice(0, needed.length), needed);
    assert.equal(dyn.soname, "libprovider.so");
    assert.deepEqual(dyn.runpath, ["$ORIGIN", "/opt/cuda/lib64"]);
    assert.deepEqual(dyn.rpath, []);
  });

  it("tells DT_RPATH (old linkers' default) from DT_RUNPATH, and a library without a soname or needs", function () {
    const file = path.join(dir, "librpath.so");
    fs.writeFileSync(path.join(dir, "a.c"), "int a(void) { return 1; }\n");
    const cc = spawnSync("cc", ["-shared", "-nostdlib", "-o", file, path.join(dir, "a.c"), "-Wl,-rpath,/x:/y", "-Wl,--disable-new-dtags"], { encoding: "utf8" });
    assert.equal(cc.status, 0, cc.stderr);
    assert.deepEqual(readElfDynamicFile(file), { needed: [], runpath: [], rpath: ["/x", "/y"] });
  });

  it("agrees with readelf -d on onnxruntime-node's binding library", function () {
    const binding = path.join(ortBindingFolder(), "libonnxruntime.so.1");
    const readelf = spawnSync("readelf", ["-d", binding], { encoding: "utf8" });
    if (readelf.status !== 0 || process.platform !== "linux") {
      console.log("      (skipped: needs Linux and binutils' readelf)");
      this.skip();
    }
    const expected = [...readelf.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    assert.ok(expected.length > 0, readelf.stdout);
    const dyn = readElfDynamicFile(binding);
    assert.deepEqual(dyn.needed, expected);
    assert.equal(dyn.soname, /\(SONAME\)\s+Library soname: \[([^\]]+)\]/.exec(readelf.stdout)?.[1]);
  });

  it("returns no needs for an object without a dynamic section", function () {
    fs.writeFileSync(path.join(dir, "a.c"), "int a(void) { return 1; }\n");
    const obj = path.join(dir, "a.o");
    assert.equal(spawnSync("cc", ["-c", "-o", obj, path.join(dir, "a.c")]).status, 0);
    assert.deepEqual(readElfDynamicFile(obj), { needed: [], runpath: [], rpath: [] });
  });

  it("refuses what it can't read, naming the file and what was expected", function () {
    const lib = fs.readFileSync(buildLibrary(dir, "libx.so", { needed: ["liby.so.1"] }));
    assert.throws(() => readElfDynamic(bufferReader(Buffer.from("#!/bin/sh\necho not a library\n")), "x.so"), (e: Error) => {
      assert.ok(e instanceof ElfError);
      assert.match(e.message, /^x\.so is not an ELF file \(expected a shared library, which starts with \\x7fELF\)\.$/);
      return true;
    });
    const as32 = Buffer.from(lib);
    as32[4] = 1;
    assert.throws(() => readElfDynamic(bufferReader(as32), "x.so"), /^ElfError: x\.so is a 32-bit little-endian ELF file; expected a 64-bit little-endian one/);
    const bigEndian = Buffer.from(lib);
    bigEndian[5] = 2;
    assert.throws(() => readElfDynamic(bufferReader(bigEndian), "x.so"), /64-bit big-endian ELF file/);
    assert.throws(() => readElfDynamic(bufferReader(lib.subarray(0, 200)), "x.so"), /^ElfError: x\.so is cut short: its program headers \(bytes \d+-\d+\) lie past its end\.$/);
    assert.deepEqual(readElfDynamic(bufferReader(lib), "x.so").needed[0], "liby.so.1");
  });
});
