/**
 * The dynamic section of an ELF64 little-endian shared library (Linux x86-64, aarch64): the sonames it names in
 * DT_NEEDED, its own DT_SONAME, and its DT_RUNPATH / DT_RPATH search folders. This is what the dynamic loader reads
 * before it loads a library, so it tells which libraries onnxruntime's CUDA provider needs without loading it
 * (loading a provider whose libraries are missing only says "Failed to load shared library").
 *
 * Only the program headers and the dynamic string table are read (a few KB), never the whole file: the CUDA
 * provider is several hundred MB. Layout from the System V ABI (gABI, "Object Files" and "Dynamic Linking"):
 * ELF header -> program headers -> PT_DYNAMIC segment of (d_tag, d_val) pairs -> DT_STRTAB, a virtual address that
 * the PT_LOAD segments map back to a file offset.
 *
 * Written here rather than taken from npm: only four tags are needed, and reading just the headers and the string
 * table (not the whole file, as general ELF parsers do) keeps it to a few KB; test/runtime/elf.test.ts checks it
 * against libraries that cc builds.
 */
import * as fs from "node:fs";

export interface ElfDynamic {
  /** DT_NEEDED entries in file order, e.g. ["libcublasLt.so.13", "libc.so.6"]. */
  needed: string[];
  /** DT_SONAME, when the library has one. */
  soname?: string;
  /** DT_RUNPATH folders (searched after LD_LIBRARY_PATH), as written: "$ORIGIN" is not expanded here. */
  runpath: string[];
  /** DT_RPATH folders (searched before LD_LIBRARY_PATH, and only when there is no DT_RUNPATH). */
  rpath: string[];
}

/** Thrown for a file that is not an ELF64 little-endian shared object, or is cut short. */
export class ElfError extends Error {
  override name = "ElfError";
}

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
export type ReadAt = (offset: number, length: number) => Buffer;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;
/** Bytes per ELF64 dynamic entry (Elf64_Dyn: d_tag int64, d_un uint64). */
const DYN_SIZE = 16;

/** The dynamic section of the ELF file `file` (named in errors). */
export function readElfDynamicFile(file: string): ElfDynamic {
  const fd = fs.openSync(file, "r");
  try {
    return readElfDynamic((offset, length) => {
      const buf = Buffer.alloc(length);
      const n = fs.readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    }, file);
  } finally {
    fs.closeSync(fd);
  }
}

/** The dynamic section of the ELF image that `read` gives access to (a Buffer's bytes: `bufferReader(buf)`). */
export function readElfDynamic(read: ReadAt, what: string): ElfDynamic {
  const exact = (offset: number, length: number, part: string): Buffer => {
    const buf = read(offset, length);
    if (buf.length < length) throw new ElfError(`${what} is cut short: its ${part} (bytes ${offset}-${offset + length}) lie past its end.`);
    return buf;
  };
  const ident = read(0, 64);
  if (ident.length < 64 || ident.readUInt32BE(0) !== 0x7f454c46) {
    throw new ElfError(`${what} is not an ELF file (expected a shared library, which starts with \\x7fELF).`);
  }
  if (ident[4] !== 2 || ident[5] !== 1) {
    const cls = ident[4] === 1 ? "32-bit" : ident[4] === 2 ? "64-bit" : `class ${ident[4]}`;
    const data = ident[5] === 1 ? "little-endian" : ident[5] === 2 ? "big-endian" : `data ${ident[5]}`;
    throw new ElfError(`${what} is a ${cls} ${data} ELF file; expected a 64-bit little-endian one (Linux x64 or arm64).`);
  }
  const phoff = Number(ident.readBigUInt64LE(0x20));
  const phentsize = ident.readUInt16LE(0x36);
  const phnum = ident.readUInt16LE(0x38);
  if (phnum > 0 && phentsize < 56) throw new ElfError(`${what} has program headers of ${phentsize} bytes; ELF64's are 56.`);
  const headers = exact(phoff, phentsize * phnum, "program headers");

  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const h = headers.subarray(i * phentsize);
    const type = h.readUInt32LE(0);
    if (type === PT_LOAD) loads.push({ offset: h.readBigUInt64LE(8), vaddr: h.readBigUInt64LE(16), filesz: h.readBigUInt64LE(32) });
    if (type === PT_DYNAMIC) dynamic = { offset: Number(h.readBigUInt64LE(8)), size: Number(h.readBigUInt64LE(32)) };
  }
  // A static executable or a plain object file has no dynamic section, hence needs nothing.
  if (dynamic === undefined) return { needed: [], runpath: [], rpath: [] };

  const entries = exact(dynamic.offset, dynamic.size, "dynamic section");
  const tags: { tag: bigint; value: bigint }[] = [];
  for (let at = 0; at + DYN_SIZE <= entries.length; at += DYN_SIZE) {
    const tag = entries.readBigInt64LE(at);
    if (tag === DT_NULL) break;
    tags.push({ tag, value: entries.readBigUInt64LE(at + 8) });
  }
  const strtabAddr = tags.find((t) => t.tag === DT_STRTAB)?.value;
  const strsz = tags.find((t) => t.tag === DT_STRSZ)?.value;
  if (strtabAddr === undefined || strsz === undefined) throw new ElfError(`${what} has a dynamic section without DT_STRTAB/DT_STRSZ.`);
  const segment = loads.find((l) => l.vaddr <= strtabAddr && strtabAddr < l.vaddr + l.filesz);
  if (segment === undefined) throw new ElfError(`${what}'s dynamic string table (address 0x${strtabAddr.toString(16)}) is in no loaded segment.`);
  const strings = exact(Number(strtabAddr - segment.vaddr + segment.offset), Number(strsz), "dynamic string table");
  const str = (offset: bigint): string => {
    const start = Number(offset);
    if (start >= strings.length) throw new ElfError(`${what} names a string at ${start}, past its string table of ${strings.length} bytes.`);
    const end = strings.indexOf(0, start);
    return strings.toString("utf8", start, end < 0 ? strings.length : end);
  };
  const folders = (tag: bigint): string[] =>
    tags.filter((t) => t.tag === tag).flatMap((t) => str(t.value).split(":")).filter((f) => f.length > 0);
  const soname = tags.find((t) => t.tag === DT_SONAME);
  return {
    needed: tags.filter((t) => t.tag === DT_NEEDED).map((t) => str(t.value)),
    ...(soname ? { soname: str(soname.value) } : {}),
    runpath: folders(DT_RUNPATH),
    rpath: folders(DT_RPATH),
  };
}

/** A ReadAt over bytes held in memory. */
export function bufferReader(bytes: Uint8Array): ReadAt {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return (offset, length) => buf.subarray(Math.min(offset, buf.length), Math.min(offset + length, buf.length));
}
