/**
 * 32-bit FNV-1a over the UTF-16 code units of a string: cheap, stable across calls and processes, and spreads short
 * strings well. Labels get their colour from it (overlay.ts); the stand-in generator seeds each weight tensor's
 * random stream from its name with it (standin/prng.ts), `seed` mixed into the offset basis.
 */
export function fnv1a(text: string, seed = 0): number {
  let hash = (0x811c9dc5 ^ (seed >>> 0)) | 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
