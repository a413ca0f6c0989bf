// Writes NAME.br (brotli, quality 11) and NAME.gz (gzip -9) next to every
// compressible file of a build directory, so the relay serves them without
// compressing at run time (tower-http's ServeDir picks the variant the
// browser accepts). Node's zlib has both; nothing to install besides node.
// A variant that is not smaller than the file is not written.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const COMPRESSIBLE = /\.(html|js|mjs|css|wasm|json|webmanifest|svg|txt)$/;
// Below this the headers cost more than compression saves.
const MIN_BYTES = 1024;

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node compress.mjs DIR");
  process.exit(2);
}

function* files(at) {
  for (const entry of readdirSync(at, { withFileTypes: true })) {
    const path = join(at, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (COMPRESSIBLE.test(entry.name)) yield path;
  }
}

let plain = 0;
let br = 0;
let count = 0;
for (const path of files(dir)) {
  const data = readFileSync(path);
  if (data.length < MIN_BYTES) continue;
  const brotli = brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
  const gzip = gzipSync(data, { level: 9 });
  if (brotli.length < data.length) writeFileSync(`${path}.br`, brotli);
  if (gzip.length < data.length) writeFileSync(`${path}.gz`, gzip);
  plain += data.length;
  br += Math.min(brotli.length, data.length);
  count += 1;
}
const kib = (n) => (n / 1024).toFixed(0);
console.log(`compressed ${count} files: ${kib(plain)} KiB -> ${kib(br)} KiB brotli`);
