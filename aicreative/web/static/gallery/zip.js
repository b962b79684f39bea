/**
 * The gallery's files: export zip, import of that zip, PNG names and PNG text chunks.
 *
 * Owns the export format (plain PNG files + gallery.json, as the user asked: the export
 * is for keeping and moving, so it is not encrypted) and reading it back. Zip through the
 * vendored `fflate`; a PNG `tEXt` chunk in the "parameters" convention other tools read.
 */
import { unzipSync, zipSync } from "../vendor/fflate.js";

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
export const MAX_IMPORT_FILES = 20000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function isPng(bytes) {
  return bytes instanceof Uint8Array && bytes.length > 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** "20261201-081530" in UTC, or "undated". */
export function stamp(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "undated";
  return (
    `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
  );
}

function safe(value) {
  return String(value ?? "").replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 64);
}

/** A download name that does not collide: date, seed and a piece of the image id. */
export function fileName(record) {
  const seed = record.meta && record.meta.seed != null ? `seed${safe(record.meta.seed)}` : "noseed";
  return `aicreative-${stamp(record.created)}-${seed}-${safe(record.id).replace(/-/g, "").slice(0, 8)}.png`;
}

/** The settings as text, in the "parameters" convention (AUTOMATIC1111 and tools that read it). */
export function parametersText(record) {
  const m = record.meta || {};
  const s = m.settings || {};
  const fields = [
    ["Steps", s.steps],
    ["CFG scale", s.guidance],
    ["Seed", m.seed],
    ["Size", s.width && s.height ? `${s.width}x${s.height}` : undefined],
    ["Model", s.backend],
  ].filter(([, v]) => v !== undefined && v !== null && v !== "");
  const lines = [String(m.prompt || "")];
  if (m.negative_prompt) lines.push(`Negative prompt: ${m.negative_prompt}`);
  lines.push(fields.map(([k, v]) => `${k}: ${v}`).join(", "));
  return lines.join("\n");
}

let crcTable = null;
function crc32(bytes) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of bytes) crc = crcTable[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A PNG with a `tEXt` chunk `keyword` = `text` before IEND (Latin-1; others become "?"). */
export function withTextChunk(png, keyword, text) {
  if (!isPng(png)) throw new Error("not a PNG");
  const latin1 = (s) => Uint8Array.from(String(s), (c) => (c.charCodeAt(0) < 256 ? c.charCodeAt(0) : 63));
  const body = new Uint8Array([...latin1(keyword), 0, ...latin1(text)]);
  const chunk = new Uint8Array(12 + body.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, body.length);
  chunk.set(encoder.encode("tEXt"), 4);
  chunk.set(body, 8);
  view.setUint32(8 + body.length, crc32(chunk.subarray(4, 8 + body.length)));
  const iend = png.length - 12; // IEND is the last 12 bytes of a well-formed PNG
  const out = new Uint8Array(png.length + chunk.length);
  out.set(png.subarray(0, iend), 0);
  out.set(chunk, iend);
  out.set(png.subarray(iend), iend + chunk.length);
  return out;
}

/** The `tEXt` chunks of a PNG as {keyword: text}. */
export function textChunks(png) {
  const out = {};
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let at = 8; at + 12 <= png.length; ) {
    const length = view.getUint32(at);
    const type = decoder.decode(png.subarray(at + 4, at + 8));
    if (type === "tEXt") {
      const body = png.subarray(at + 8, at + 8 + length);
      const zero = body.indexOf(0);
      out[String.fromCharCode(...body.subarray(0, zero))] = String.fromCharCode(...body.subarray(zero + 1));
    }
    at += 12 + length;
  }
  return out;
}

/**
 * The export zip: one PNG per record plus gallery.json (prompts, settings, ids).
 * records: [{id, created, meta, png}] -> Uint8Array
 */
export function buildExport(records, { account = "" } = {}) {
  const files = {};
  const images = [];
  for (const r of records) {
    let name = fileName(r);
    for (let i = 2; files[name]; i++) name = fileName(r).replace(/\.png$/, `-${i}.png`);
    files[name] = [r.png, { level: 0, mtime: new Date(r.created) }];
    const m = r.meta || {};
    images.push({
      id: r.id,
      file: name,
      created: r.created,
      prompt: m.prompt ?? "",
      negative_prompt: m.negative_prompt ?? "",
      settings: m.settings ?? {},
      seed: m.seed ?? null,
      batch: m.batch ?? "",
    });
  }
  const json = { app: "AI Creative", format: 2, exported: new Date().toISOString(), account, count: images.length, images };
  files["gallery.json"] = [encoder.encode(`${JSON.stringify(json, null, 2)}\n`), { level: 6 }];
  return zipSync(files);
}

/**
 * Read an export zip back: [{id, created, meta, png}], in the zip's order. Refuses
 * anything that is not such a zip with a message a person can act on.
 */
export function parseExport(bytes) {
  let files;
  try {
    files = unzipSync(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  } catch {
    throw new Error("This file is not a zip file.");
  }
  const names = Object.keys(files);
  if (names.length > MAX_IMPORT_FILES) throw new Error("This zip holds too many files for one import.");
  if (!files["gallery.json"]) throw new Error("This zip is not an AI Creative gallery export (no gallery.json).");
  let index;
  try {
    index = JSON.parse(decoder.decode(files["gallery.json"]));
  } catch {
    throw new Error("This zip's gallery.json is damaged.");
  }
  const out = [];
  for (const entry of Array.isArray(index.images) ? index.images : []) {
    const png = entry && files[entry.file];
    if (!isPng(png)) continue;
    const created = Number.isNaN(Date.parse(entry.created)) ? new Date().toISOString() : String(entry.created);
    out.push({
      // Exports of version 1 carried no id: the file name (date, seed, id piece) stands in.
      id: String(entry.id || `import-${entry.file}`).slice(0, 200),
      created,
      meta: {
        prompt: String(entry.prompt ?? ""),
        negative_prompt: String(entry.negative_prompt ?? ""),
        settings: entry.settings && typeof entry.settings === "object" ? entry.settings : {},
        seed: entry.seed ?? null,
        batch: String(entry.batch ?? ""),
      },
      png,
    });
  }
  return out;
}
