// Gives the dashboard's WASM imports short names, in the WASM and in the
// JS glue wasm-bindgen wrote for it (build_ui in scripts/lib.sh).
//
// wasm-bindgen names each import after its JS function plus a 16-digit
// hash (`__wbg_remove_8228e91d7ddbc755`), from the module
// "./admin-ui_bg.js": about 9.5 KB of names that gzip cannot compress
// much (the hashes), 2.7 KB of the gzipped WASM (README, "Size"). Here
// every import becomes `a`, `b`, ..., `ba`, ... from the module `w`, and
// the glue's import object is renamed to match. The glue names each
// import once, as a key of that object; anything else fails the build.
//
// Usage: node short-imports.mjs <admin-ui_bg.wasm> <admin-ui.js>
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, jsPath] = process.argv.slice(2);
const wasm = readFileSync(wasmPath);
let js = readFileSync(jsPath, "utf8");
const MODULE = "./admin-ui_bg.js";

const fail = (why) => {
  console.error(`short-imports: ${why}`);
  process.exit(1);
};

function readU32(buf, pos) {
  let result = 0, shift = 0, byte;
  do {
    byte = buf[pos++];
    result |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  return [result >>> 0, pos];
}

function u32(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
}

const name = (s) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);

function shortName(i) {
  let s = "";
  do {
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26);
  } while (i > 0);
  return s;
}

// Skips an import's description (what it imports and its type).
function skipDesc(buf, pos) {
  const kind = buf[pos++];
  const limits = (p) => {
    const flags = buf[p++];
    [, p] = readU32(buf, p);
    if (flags & 1) [, p] = readU32(buf, p);
    return p;
  };
  switch (kind) {
    case 0: return readU32(buf, pos)[1]; // function: type index
    case 1: return limits(pos + 1); // table: reference type, limits
    case 2: return limits(pos); // memory: limits
    case 3: return pos + 2; // global: value type, mutability
    case 4: return readU32(buf, pos + 1)[1]; // tag: attribute, type index
    default: fail(`unknown import kind ${kind}`);
  }
}

if (wasm.readUInt32LE(0) !== 0x6d736100) fail("not a WASM module");
const parts = [wasm.subarray(0, 8)];
let pos = 8, renamed = 0;
while (pos < wasm.length) {
  const id = wasm[pos];
  const [size, start] = readU32(wasm, pos + 1);
  const end = start + size;
  if (id !== 2) {
    parts.push(wasm.subarray(pos, end));
    pos = end;
    continue;
  }
  let [count, p] = readU32(wasm, start);
  const body = [u32(count)];
  for (let i = 0; i < count; i++) {
    let len;
    [len, p] = readU32(wasm, p);
    const module = wasm.toString("utf8", p, p + len);
    p += len;
    [len, p] = readU32(wasm, p);
    const field = wasm.toString("utf8", p, p + len);
    p += len;
    const descStart = p;
    p = skipDesc(wasm, p);
    if (module === MODULE) {
      const short = shortName(renamed++);
      const key = new RegExp(`(^|[^\\w$])${field}: function`, "g");
      const uses = js.split(field).length - 1;
      const keys = js.match(key)?.length ?? 0;
      if (uses !== 1 || keys !== 1) fail(`${field} is named ${uses} times in the glue, ${keys} as a key`);
      js = js.replace(key, `$1${short}: function`);
      body.push(name("w"), name(short));
    } else {
      body.push(name(module), name(field));
    }
    body.push(wasm.subarray(descStart, p));
  }
  if (p !== end) fail("the import section was not read to its end");
  const section = Buffer.concat(body);
  parts.push(Buffer.from([2]), u32(section.length), section);
  pos = end;
}

const moduleKey = `"${MODULE}": import0`;
if (js.split(moduleKey).length !== 2) fail(`the glue's import module is not named once as ${moduleKey}`);
js = js.replace(moduleKey, `"w": import0`);
writeFileSync(wasmPath, Buffer.concat(parts));
writeFileSync(jsPath, js);
console.log(`short-imports: ${renamed} imports renamed`);
