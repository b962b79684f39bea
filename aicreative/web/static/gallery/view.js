/**
 * What the gallery shows and how: pure logic (search, paging, neighbours, the Create
 * form's values, storage figures, payload decoding) and the small DOM helpers the page
 * builds its views with. All user text goes into the DOM as text, never as markup.
 */

export const PAGE_SIZE = 60;
export const WARN_FULL = 0.8; // warn when the gallery's origin uses this share of its quota

/** Records whose prompt or negative prompt contains every word of `query`. */
export function filterRecords(records, query) {
  const words = String(query || "").toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return records;
  return records.filter((r) => {
    const text = `${r.meta?.prompt ?? ""}\n${r.meta?.negative_prompt ?? ""}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
}

/** The first `pages` pages of records. */
export function firstPages(records, pages, size = PAGE_SIZE) {
  return records.slice(0, Math.max(1, pages) * size);
}

/** The id `step` places from `id` in `records` (wrapping), or null. */
export function neighbour(records, id, step) {
  if (!records.length) return null;
  const at = records.findIndex((r) => r.id === id);
  if (at < 0) return records[0].id;
  return records[(at + step + records.length) % records.length].id;
}

/** The Create form's values for a record's settings ("Use these settings"). */
export function formValues(meta) {
  const m = meta || {};
  const s = m.settings || {};
  return {
    prompt: String(m.prompt ?? ""),
    negative: String(m.negative_prompt ?? ""),
    size: s.width && s.height ? `${s.width}x${s.height}` : null,
    steps: s.steps ?? null,
    guidance: s.guidance ?? null,
    seed: m.seed ?? null,
  };
}

export function formatBytes(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024 * 1024) return `${Math.max(0, n / 1024).toFixed(n ? 1 : 0)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/**
 * The storage line: {text, warn}. `estimate` from navigator.storage.estimate(),
 * `persisted` from navigator.storage.persisted() (null: unknown), `own` the gallery's bytes.
 */
export function storageStatus(estimate, persisted, own) {
  const parts = [`Gallery: ${formatBytes(own)}`];
  let warn = "";
  if (estimate && estimate.quota) {
    const share = (estimate.usage || 0) / estimate.quota;
    parts.push(`this site uses ${formatBytes(estimate.usage)} of the ${formatBytes(estimate.quota)} this browser allows`);
    if (share >= WARN_FULL) {
      warn = `This browser's space for the gallery is ${Math.round(share * 100)}% full: export and delete some images soon.`;
    }
  }
  if (persisted === true) parts.push("kept: the browser will not evict it");
  else if (persisted === false) parts.push("the browser may evict it under storage pressure (export to keep a copy)");
  return { text: parts.join(" · "), warn };
}

/** data:image/png;base64,... -> bytes (no fetch: the page's CSP allows none for data:). */
export function dataUrlBytes(url) {
  const match = /^data:image\/png;base64,([A-Za-z0-9+/=\s]+)$/i.exec(String(url || ""));
  if (!match) throw new Error("not a PNG data URL");
  const binary = atob(match[1].replace(/\s+/g, ""));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** A generation payload (as the server sends it) -> entries for Gallery.add, or null. */
export function payloadEntries(payload) {
  let p = payload;
  if (typeof p === "string") {
    try {
      p = JSON.parse(p);
    } catch {
      return null;
    }
  }
  if (!p || typeof p !== "object" || Array.isArray(p)) return null;
  if (p.kind && p.kind !== "generation") return null;
  if (!Array.isArray(p.images) || !p.images.length) return null;
  const batch = String(p.batch || p.delivery || "");
  if (!batch) return null;
  const created = Number.isNaN(Date.parse(p.created)) ? new Date().toISOString() : String(p.created);
  const entries = [];
  p.images.forEach((image, i) => {
    let png;
    try {
      png = dataUrlBytes(image && image.data_url);
    } catch {
      return;
    }
    entries.push({
      // One id per image of a batch: a payload seen twice (Gradio, a recovery) is stored once.
      id: `${batch}-${i}`,
      created,
      meta: {
        prompt: String(p.prompt ?? ""),
        negative_prompt: String(p.negative_prompt ?? ""),
        settings: p.settings && typeof p.settings === "object" ? { ...p.settings } : {},
        seed: image.seed ?? null,
        batch,
      },
      png,
    });
  });
  return entries.length ? { batch, delivery: p.delivery ? String(p.delivery) : "", entries } : null;
}

/** A thumbnail (WebP, at most `size` px) made in the browser, or null where it cannot be. */
export async function makeThumb(png, size = 256) {
  if (typeof createImageBitmap !== "function" || typeof OffscreenCanvas !== "function") return null;
  try {
    const bitmap = await createImageBitmap(new Blob([png], { type: "image/png" }));
    const scale = Math.min(1, size / Math.max(bitmap.width, bitmap.height));
    const w = Math.max(1, Math.round(bitmap.width * scale));
    const h = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(w, h);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, w, h);
    bitmap.close();
    const blob = await canvas.convertToBlob({ type: "image/webp", quality: 0.8 });
    return new Uint8Array(await blob.arrayBuffer());
  } catch {
    return null;
  }
}

/** el("button", {className, text, testid, onclick, ...attrs}, [children]) */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "testid") node.dataset.testid = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function button(label, testid, variant, onclick) {
  return el("button", {
    type: "button",
    className: `ac-btn${variant ? ` ac-btn-${variant}` : ""}`,
    testid,
    text: label,
    onclick,
  });
}

export function download(bytes, name, type = "image/png") {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = el("a", { href: url, download: name, className: "ac-hidden-link" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}
