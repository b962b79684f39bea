/**
 * AI Creative's gallery in the page: wires storage, crypto, zip and view together.
 *
 * Owns the page's state (the key, in memory only; what is mounted) and the public API
 * the Gradio components call (window.AICreative). Nothing here talks to the network but
 * this site: GET /gallery-key and the Gradio server functions `pending_deliveries` and
 * `ack_delivery` (a result is acknowledged only once its images are stored, encrypted).
 *
 * window.AICreative:
 *   setUser(username)           the header names the signed-in user: get the key, recover
 *   connect(server)             a component's Gradio `server` (for the delivery functions)
 *   receive(payload, element?)  store a generation result; show it in `element`
 *   mountGallery(element), mountUsage(element), refresh()
 *   usage() -> {count, bytes}, account() -> id, exportZip() -> Blob, importZip(blob) -> {added, skipped}
 *   wipeAccount(id) -> number   (the goodbye page's signed instruction only)
 */
import { fetchGalleryKey } from "./crypto.js";
import { Gallery, isQuotaError, migrateLegacy, openGalleryDb, usageOf, wipeAccount } from "./storage.js";
import { buildExport, fileName, parametersText, parseExport, withTextChunk } from "./zip.js";
import {
  PAGE_SIZE,
  button,
  download,
  el,
  filterRecords,
  firstPages,
  formValues,
  makeThumb,
  neighbour,
  payloadEntries,
  storageStatus,
} from "./view.js";

const FULL_MESSAGE =
  "This browser's storage is full: these images could not be kept (nothing stored before is lost). " +
  "Download them now, then export and delete some images to make room.";
const UNAVAILABLE = "This browser cannot keep a gallery here (IndexedDB is unavailable). Download the images you want to keep.";
const NO_KEY = "The gallery's key could not be fetched; please reload the page or log in again.";

const state = {
  user: "",
  gallery: null, // Gallery once the key is here
  ready: null, // Promise<Gallery|null>
  server: null,
  recovered: false,
  records: [],
  galleries: new Set(),
  usages: new Set(),
  error: "",
  notice: "",
};

let dbPromise = null;
function db() {
  dbPromise ||= openGalleryDb().catch((err) => {
    dbPromise = null;
    throw err;
  });
  return dbPromise;
}

function warn(err) {
  console.warn("[AICreative]", err && err.name ? err.name : err);
}

// ------------------------------------------------------------------- key, recovery

async function obtain(username) {
  const access = await fetchGalleryKey();
  if (!access) throw new Error(NO_KEY);
  const gallery = new Gallery(await db(), access);
  await moveLegacy(gallery, username).catch(warn);
  return gallery;
}

/** Version 1's plain records of this user move in, encrypted, and leave the plain store. */
function moveLegacy(gallery, username) {
  return migrateLegacy(gallery, username, makeThumb);
}

/**
 * Keep prompts out of the browser's session files: Chromium saves the text of form fields
 * for "restore tabs" unless they say autocomplete=off, and those files outlive a logout.
 */
function keepFormsOutOfSessionFiles() {
  // Fields that name their purpose for password managers (username, email,
  // passwords) keep it: they hold account data, never a prompt.
  const fields = () =>
    document.querySelectorAll(
      "textarea:not([autocomplete]), input:not([type=hidden]):not([type=checkbox]):not([autocomplete])",
    );
  const mark = () => fields().forEach((f) => f.setAttribute("autocomplete", "off"));
  mark();
  let queued = false; // at most once a frame, however busy Gradio keeps the DOM
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      mark();
    });
  }).observe(document.body, { childList: true, subtree: true });
  // On logout, leave nothing typed in the page that history could keep.
  document.addEventListener("submit", (event) => {
    if (event.target.closest && event.target.closest(".ac-logout")) {
      fields().forEach((f) => {
        if (!f.closest(".ac-logout")) f.value = "";
      });
    }
  }, true);
}

function setUser(username) {
  const name = String(username || "").trim();
  if (!name) return Promise.resolve();
  if (state.ready && state.user.toLowerCase() === name.toLowerCase()) return state.ready;
  state.user = name;
  if (!state.ready) {
    keepFormsOutOfSessionFiles();
    state.ready = obtain(name).then(
      (gallery) => {
        state.gallery = gallery;
        return gallery;
      },
      (err) => {
        warn(err);
        setError(err && err.message === NO_KEY ? NO_KEY : UNAVAILABLE);
        state.ready = null;
        return null;
      },
    );
    state.ready.then(() => recover()).then(refresh, warn);
  }
  return state.ready;
}

function connect(server) {
  if (server && typeof server.pending_deliveries === "function") state.server = server;
  return recover();
}

/** Results the server held for this account (a reload, a lost connection): store, then ack. */
async function recover() {
  if (state.recovered || !state.server || !state.gallery) return;
  state.recovered = true;
  let pending;
  try {
    pending = await state.server.pending_deliveries(null);
  } catch (err) {
    warn(err); // an app without the function: nothing to recover
    return;
  }
  const results = (pending && Array.isArray(pending.results) && pending.results) || [];
  for (const payload of results) await receive(payload, null);
  if (pending && pending.notice) showNotice(pending.notice);
}

async function ack(delivery) {
  if (!delivery || !state.server || typeof state.server.ack_delivery !== "function") return;
  try {
    await state.server.ack_delivery(delivery);
  } catch (err) {
    warn(err);
  }
}

// ------------------------------------------------------------------------- receive

const latestUrls = new WeakMap();

async function receive(payload, element) {
  const parsed = payloadEntries(payload);
  if (!parsed) return 0;
  const target = element && element.nodeType === 1 ? element : null;
  if (target) renderLatest(target, parsed.entries, "");
  const gallery = await (state.ready || Promise.resolve(null));
  if (!gallery) {
    if (target) renderLatest(target, parsed.entries, state.error || UNAVAILABLE);
    return 0;
  }
  try {
    for (const entry of parsed.entries) entry.thumb = await makeThumb(entry.png);
    const stored = await gallery.add(parsed.entries);
    if (stored) await askPersistence();
    await ack(parsed.delivery); // stored (or stored before): the server may forget it
    if (state.error === FULL_MESSAGE) setError("");
    await refresh();
    return stored;
  } catch (err) {
    warn(err);
    const message = isQuotaError(err) ? FULL_MESSAGE : `The gallery could not be saved in this browser (${err.name || "error"}).`;
    setError(message);
    if (target) renderLatest(target, parsed.entries, message);
    return 0;
  }
}

async function askPersistence() {
  try {
    if (navigator.storage && navigator.storage.persist && !(await navigator.storage.persisted())) {
      await navigator.storage.persist();
    }
  } catch (err) {
    warn(err);
  }
}

function renderLatest(element, entries, message) {
  for (const url of latestUrls.get(element) || []) URL.revokeObjectURL(url);
  const urls = [];
  element.replaceChildren();
  element.classList.add("ac-latest");
  const grid = el("div", { className: `ac-latest-grid${entries.length === 1 ? " ac-latest-single" : ""}` });
  for (const entry of entries) {
    const url = URL.createObjectURL(new Blob([entry.png], { type: "image/png" }));
    urls.push(url);
    const record = { id: entry.id, created: entry.created, meta: entry.meta };
    grid.append(
      el("figure", { className: "ac-latest-item" }, [
        el("img", {
          className: "ac-latest-img",
          src: url,
          alt: entry.meta.prompt ? `Generated image: ${entry.meta.prompt}` : "Generated image",
          testid: "latest-image",
          "data-seed": entry.meta.seed,
        }),
        el("div", { className: "ac-latest-bar" }, [
          el("span", { className: "ac-muted", text: `Seed ${entry.meta.seed ?? "—"}` }),
          button("Download", "latest-download", "primary", () => download(entry.png, fileName(record))),
        ]),
      ]),
    );
  }
  element.append(
    grid,
    el("p", {
      className: message ? "ac-note ac-note-error" : "ac-note",
      role: message ? "alert" : null,
      text: message || "Saved to your gallery in this browser only, encrypted for your account.",
    }),
  );
  latestUrls.set(element, urls);
}

function showNotice(message) {
  state.notice = message;
  let box = document.querySelector("[data-testid=recovered-notice]");
  if (!box) {
    box = el("div", { className: "ac-notice ac-recovered", testid: "recovered-notice", role: "status" });
    (document.querySelector("#ac-notices") || document.body).prepend(box);
  }
  box.textContent = message;
}

// ------------------------------------------------------------------------- gallery

function setError(message) {
  state.error = message || "";
  for (const element of state.galleries) {
    const g = element.acGallery;
    if (g) {
      g.errorBox.textContent = state.error;
      g.errorBox.hidden = !state.error;
    }
  }
}

function buildGallery(element) {
  element.replaceChildren();
  const g = {
    element,
    pages: 1,
    query: "",
    selecting: false,
    selected: new Set(),
    urls: new Map(), // id -> object URL of its thumbnail
    shown: [],
    current: null,
    viewerUrl: null,
    settingsInPng: false,
    undo: null,
  };
  g.count = el("span", { className: "ac-gal-count", testid: "gallery-count", "aria-live": "polite" });
  g.storage = el("p", { className: "ac-gal-storage", testid: "gallery-storage" });
  g.storageWarn = el("p", { className: "ac-gal-warn", testid: "gallery-storage-warning", role: "alert", hidden: true });
  g.search = el("input", {
    type: "search",
    className: "ac-gal-search",
    placeholder: "Search prompts",
    "aria-label": "Search prompts",
    testid: "gallery-search",
    oninput: () => {
      g.query = g.search.value;
      g.pages = 1;
      render(g);
    },
  });
  g.exportBtn = button("Export all (.zip)", "export-zip", "primary", () => onExport(g, null));
  g.importInput = el("input", {
    type: "file",
    accept: ".zip,application/zip",
    hidden: true,
    testid: "import-file",
    onchange: () => onImport(g),
  });
  g.importBtn = button("Import a zip", "import-zip", "", () => g.importInput.click());
  g.selectBtn = button("Select", "select-mode", "", () => {
    g.selecting = !g.selecting;
    g.selected.clear();
    render(g);
  });
  g.deleteSelBtn = button("Delete selected", "delete-selected", "danger", () => onDelete(g, [...g.selected]));
  g.exportSelBtn = button("Export selected", "export-selected", "", () => onExport(g, [...g.selected]));
  g.deleteAllBtn = button("Delete all", "delete-all", "danger", () => {
    if (window.confirm(`Delete all ${state.records.length} images stored in this browser? You can undo right after.`)) {
      onDelete(g, state.records.map((r) => r.id));
    }
  });
  g.errorBox = el("div", { className: "ac-gal-error", testid: "gallery-error", role: "alert", hidden: true });
  g.undoBox = el("div", { className: "ac-gal-undo", testid: "undo-bar", hidden: true });
  g.grid = el("div", { className: "ac-gal-grid", testid: "gallery-grid" });
  g.more = button("Show more", "gallery-more", "", () => {
    g.pages += 1;
    render(g);
  });
  g.empty = el("p", {
    className: "ac-gal-empty",
    testid: "gallery-empty",
    hidden: true,
    text: "No images yet — generate some in the Create tab. They are kept only in this browser, encrypted for your account.",
  });
  g.viewer = buildViewer(g);
  g.root = el("div", { className: "ac-gallery" }, [
    el("div", { className: "ac-gal-toolbar" }, [
      g.count,
      g.search,
      el("div", { className: "ac-gal-actions" }, [
        g.exportBtn,
        g.importBtn,
        g.importInput,
        g.selectBtn,
        g.exportSelBtn,
        g.deleteSelBtn,
        g.deleteAllBtn,
      ]),
      el("p", {
        className: "ac-gal-export-note",
        text: "The export is a plain zip (PNG files + gallery.json with prompts and settings), not encrypted: keep it somewhere safe.",
      }),
      g.storage,
      g.storageWarn,
      g.errorBox,
      g.undoBox,
    ]),
    g.grid,
    g.more,
    g.empty,
    g.viewer,
  ]);
  element.append(g.root);
  element.acGallery = g;
  // More pages as the end of the grid comes into view (smooth scrolling at any size).
  if (typeof IntersectionObserver === "function") {
    g.observer = new IntersectionObserver((seen) => {
      if (seen.some((e) => e.isIntersecting) && !g.more.hidden) g.more.click();
    });
    g.observer.observe(g.more);
  }
  return g;
}

function buildViewer(g) {
  g.viewerImg = el("img", { className: "ac-viewer-img", alt: "", testid: "viewer-image" });
  g.viewerPrompt = el("p", { className: "ac-viewer-prompt", testid: "viewer-prompt" });
  g.viewerNegative = el("p", { className: "ac-viewer-negative", testid: "viewer-negative" });
  g.viewerSettings = el("dl", { className: "ac-viewer-settings", testid: "viewer-settings" });
  const inPng = el("input", {
    type: "checkbox",
    testid: "settings-in-png",
    onchange: () => {
      g.settingsInPng = inPng.checked;
    },
  });
  const viewer = el("dialog", { className: "ac-viewer", testid: "viewer", "aria-label": "Image viewer" }, [
    el("div", { className: "ac-viewer-body" }, [
      el("div", { className: "ac-viewer-media" }, [g.viewerImg]),
      el("div", { className: "ac-viewer-info" }, [
        el("h3", { className: "ac-viewer-label", text: "Prompt" }),
        g.viewerPrompt,
        el("h3", { className: "ac-viewer-label", text: "Negative prompt" }),
        g.viewerNegative,
        el("h3", { className: "ac-viewer-label", text: "Settings" }),
        g.viewerSettings,
        el("div", { className: "ac-viewer-actions" }, [
          button("‹ Previous", "viewer-prev", "", () => step(g, -1)),
          button("Next ›", "viewer-next", "", () => step(g, 1)),
          button("Fullscreen", "viewer-fullscreen", "", () => g.viewerImg.requestFullscreen?.().catch(warn)),
          button("Use these settings", "viewer-use", "primary", () => useSettings(g)),
          button("Copy seed", "viewer-copy-seed", "", () => copySeed(g)),
          button("Download PNG", "viewer-download", "primary", () => downloadCurrent(g)),
          el("label", { className: "ac-viewer-opt" }, [inPng, " Put the settings in the PNG"]),
          button("Delete", "viewer-delete", "danger", () => g.current && onDelete(g, [g.current.id])),
          button("Close", "viewer-close", "", () => closeViewer(g)),
        ]),
        el("p", { className: "ac-viewer-status", testid: "viewer-status", role: "status" }),
      ]),
    ]),
  ]);
  viewer.addEventListener("close", () => releaseViewer(g));
  viewer.addEventListener("click", (event) => event.target === viewer && closeViewer(g));
  viewer.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") step(g, -1);
    else if (event.key === "ArrowRight") step(g, 1);
  });
  return viewer;
}

function releaseViewer(g) {
  if (g.viewerUrl) URL.revokeObjectURL(g.viewerUrl);
  g.viewerUrl = null;
  g.viewerImg.removeAttribute("src");
  g.current = null;
}

function closeViewer(g) {
  if (g.viewer.open) g.viewer.close();
  releaseViewer(g);
}

function viewerStatus(g, text) {
  g.viewer.querySelector("[data-testid=viewer-status]").textContent = text;
}

async function openViewer(g, record) {
  const gallery = state.gallery;
  if (!gallery) return;
  const png = await gallery.image(record.id);
  if (g.viewerUrl) URL.revokeObjectURL(g.viewerUrl);
  g.current = record;
  g.currentPng = png;
  g.viewerUrl = URL.createObjectURL(new Blob([png], { type: "image/png" }));
  g.viewerImg.src = g.viewerUrl;
  const m = record.meta || {};
  g.viewerImg.alt = m.prompt ? `Image: ${m.prompt}` : "Image";
  g.viewerPrompt.textContent = m.prompt || "—";
  g.viewerNegative.textContent = m.negative_prompt || "—";
  const s = m.settings || {};
  const rows = [
    ["Size", s.width && s.height ? `${s.width} × ${s.height}` : "—"],
    ["Steps", s.steps ?? "—"],
    ["Guidance", s.guidance ?? "—"],
    ["Seed", m.seed ?? "—"],
    ["Backend", s.backend ?? "—"],
    ["Date", new Date(record.created).toLocaleString()],
  ];
  g.viewerSettings.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  viewerStatus(g, "");
  if (!g.viewer.open) g.viewer.showModal();
}

function step(g, by) {
  if (!g.current) return;
  const id = neighbour(g.shown, g.current.id, by);
  const record = g.shown.find((r) => r.id === id);
  if (record) openViewer(g, record).catch(warn);
}

function downloadCurrent(g) {
  if (!g.current || !g.currentPng) return;
  const png = g.settingsInPng ? withTextChunk(g.currentPng, "parameters", parametersText(g.current)) : g.currentPng;
  download(png, fileName(g.current));
}

async function copySeed(g) {
  const seed = g.current?.meta?.seed;
  if (seed === null || seed === undefined) return;
  try {
    await navigator.clipboard.writeText(String(seed));
    viewerStatus(g, `Seed ${seed} copied.`);
  } catch {
    viewerStatus(g, `Seed: ${seed}`);
  }
}

/** Set a Gradio input's value the way typing would (Svelte listens for input events). */
function fill(selector, value) {
  const input = document.querySelector(selector);
  if (!input || value === null || value === undefined) return;
  const proto = input instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, "value").set.call(input, String(value));
  input.dispatchEvent(new Event("input", { bubbles: true }));
  input.dispatchEvent(new Event("change", { bubbles: true }));
}

async function waitFor(selector, ms = 3000) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const found = document.querySelector(selector);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}

async function useSettings(g) {
  if (!g.current) return;
  const v = formValues(g.current.meta);
  closeViewer(g);
  [...document.querySelectorAll("button[role=tab]")].find((t) => t.textContent.trim() === "Create")?.click();
  if (!(await waitFor("#prompt textarea"))) return;
  fill("#prompt textarea", v.prompt);
  fill("#negative textarea, #negative input", v.negative);
  if (v.size) {
    const size = document.querySelector("#size input");
    if (size) {
      // Gradio's dropdown opens its list on focus and picks an option on mousedown;
      // a value typed into the box alone is not taken.
      size.focus();
      const option = await waitFor(`[role=option][aria-label="${v.size}"]`, 1000);
      if (option) option.dispatchEvent(new MouseEvent("mousedown", { bubbles: true }));
      size.blur();
    }
  }
  // Steps, guidance and seed live in the "Advanced" accordion: open it when closed.
  if (!document.querySelector("#seed input")) {
    [...document.querySelectorAll("#tab-create button")].find((b) => b.textContent.trim().startsWith("Advanced"))?.click();
  }
  if (!(await waitFor("#seed input"))) return;
  fill("#steps input[type=number]", v.steps);
  fill("#guidance input[type=number]", v.guidance);
  if (v.seed !== null) {
    const random = document.querySelector("#random-seed input[type=checkbox]");
    if (random && random.checked) random.click();
    fill("#seed input", v.seed);
  }
}

async function onDelete(g, ids) {
  const gallery = state.gallery;
  if (!gallery || !ids.length) return;
  closeViewer(g);
  try {
    const removed = await gallery.remove(ids);
    g.selected.clear();
    clearTimeout(g.undo?.timer);
    g.undo = { removed, timer: setTimeout(() => hideUndo(g), 15000) };
    g.undoBox.replaceChildren(
      el("span", { text: `Deleted ${removed.length} image${removed.length === 1 ? "" : "s"}. ` }),
      button("Undo", "undo-delete", "", async () => {
        const undo = g.undo;
        hideUndo(g);
        if (undo) await gallery.restore(undo.removed).catch((err) => setError(errorText(err)));
        await refresh();
      }),
    );
    g.undoBox.hidden = false;
    if (state.error === FULL_MESSAGE) setError("");
  } catch (err) {
    setError(errorText(err));
  }
  await refresh();
}

function hideUndo(g) {
  clearTimeout(g.undo?.timer);
  g.undo = null;
  g.undoBox.hidden = true;
  g.undoBox.replaceChildren();
}

function errorText(err) {
  return isQuotaError(err) ? FULL_MESSAGE : `The gallery could not do that (${(err && (err.message || err.name)) || "error"}).`;
}

async function onExport(g, ids) {
  try {
    g.exportBtn.disabled = true;
    const blob = await exportZip(ids);
    download(blob, `aicreative-gallery-${new Date().toISOString().slice(0, 10)}.zip`, "application/zip");
  } catch (err) {
    setError(`Export failed: ${err.message || err.name}`);
  } finally {
    g.exportBtn.disabled = false;
  }
}

async function onImport(g) {
  const file = g.importInput.files && g.importInput.files[0];
  g.importInput.value = "";
  if (!file) return;
  try {
    const { added, skipped } = await importZip(file);
    setError("");
    g.undoBox.hidden = false;
    g.undoBox.replaceChildren(
      el("span", { testid: "import-result", text: `Imported ${added} image(s); ${skipped} already here were skipped.` }),
    );
  } catch (err) {
    setError(isQuotaError(err) ? FULL_MESSAGE : `Import failed: ${err.message || err.name}`);
  }
  await refresh();
}

async function thumbUrl(g, record) {
  if (g.urls.has(record.id)) return g.urls.get(record.id);
  const gallery = state.gallery;
  let bytes = await gallery.thumb(record.id);
  let type = "image/webp";
  if (!bytes) {
    // Imported or older records: make the thumbnail once, store it encrypted.
    const png = await gallery.image(record.id);
    bytes = await makeThumb(png);
    if (bytes) await gallery.putThumb(record.id, bytes).catch(warn);
    else [bytes, type] = [png, "image/png"];
  }
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  g.urls.set(record.id, url);
  return url;
}

function render(g) {
  const records = filterRecords(state.records.filter((r) => r.readable), g.query);
  const unreadable = state.records.length - state.records.filter((r) => r.readable).length;
  g.shown = records;
  const visible = firstPages(records, g.pages, PAGE_SIZE);
  g.count.textContent =
    `${state.records.length} image${state.records.length === 1 ? "" : "s"}` +
    (g.query ? ` · ${records.length} match` : "") +
    (unreadable ? ` · ${unreadable} unreadable (made under another key)` : "");
  g.exportBtn.disabled = !records.length;
  g.deleteAllBtn.disabled = !state.records.length;
  g.selectBtn.textContent = g.selecting ? "Done selecting" : "Select";
  g.deleteSelBtn.hidden = g.exportSelBtn.hidden = !g.selecting;
  g.deleteSelBtn.disabled = g.exportSelBtn.disabled = !g.selected.size;
  const keep = new Set(visible.map((r) => r.id));
  for (const [id, url] of g.urls) {
    if (!keep.has(id)) {
      URL.revokeObjectURL(url);
      g.urls.delete(id);
    }
  }
  const items = visible.map((record) => {
    const img = el("img", { alt: "", decoding: "async" });
    const label = `Open image${record.meta.prompt ? `: ${record.meta.prompt}` : ""}`;
    const item = el(
      "button",
      {
        type: "button",
        className: `ac-gal-item${g.selected.has(record.id) ? " ac-selected" : ""}`,
        testid: "gallery-item",
        title: record.meta.prompt || "",
        "aria-label": label.slice(0, 200),
        "aria-pressed": g.selecting ? String(g.selected.has(record.id)) : null,
        "data-id": record.id,
        onclick: () => {
          if (g.selecting) {
            if (g.selected.has(record.id)) g.selected.delete(record.id);
            else g.selected.add(record.id);
            render(g);
          } else openViewer(g, record).catch(warn);
        },
      },
      [img],
    );
    thumbUrl(g, record).then((url) => {
      img.src = url;
    }, warn);
    return item;
  });
  g.grid.replaceChildren(...items);
  g.grid.hidden = !records.length;
  g.more.hidden = visible.length >= records.length;
  g.empty.hidden = state.records.length !== 0;
  g.errorBox.textContent = state.error;
  g.errorBox.hidden = !state.error;
}

async function renderStorage(g, own) {
  let estimate = null;
  let persisted = null;
  try {
    estimate = navigator.storage && (await navigator.storage.estimate());
    persisted = navigator.storage && navigator.storage.persisted ? await navigator.storage.persisted() : null;
  } catch (err) {
    warn(err);
  }
  const status = storageStatus(estimate, persisted, own);
  g.storage.textContent = status.text;
  g.storageWarn.textContent = status.warn;
  g.storageWarn.hidden = !status.warn;
}

let refreshing = null;
let again = false;
async function refresh() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      const gallery = state.gallery;
      if (!gallery) break;
      try {
        state.records = await gallery.list();
      } catch (err) {
        warn(err);
        setError(errorText(err));
      }
      const own = state.records.reduce((s, r) => s + (Number(r.bytes) || 0), 0);
      for (const element of [...state.galleries]) {
        if (!element.isConnected && element.acSeen) {
          state.galleries.delete(element);
          continue;
        }
        element.acSeen ||= element.isConnected;
        const g = element.acGallery || buildGallery(element);
        render(g);
        renderStorage(g, own);
      }
      for (const element of state.usages) {
        element.textContent = `${state.records.length} image${state.records.length === 1 ? "" : "s"}, ${(own / 1048576).toFixed(1)} MB stored in this browser, encrypted for your account`;
      }
    } while (again);
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

// ---------------------------------------------------------------------- public API

function mountGallery(element) {
  if (!element || element.nodeType !== 1) return Promise.resolve();
  if (!element.acGallery) buildGallery(element);
  state.galleries.add(element);
  return refresh();
}

function mountUsage(element) {
  if (!element || element.nodeType !== 1) return Promise.resolve();
  state.usages.add(element);
  return refresh();
}

async function usage() {
  const gallery = await (state.ready || Promise.resolve(null));
  return gallery ? gallery.usage() : { count: 0, bytes: 0 };
}

async function exportZip(ids = null) {
  const gallery = await state.ready;
  if (!gallery) throw new Error("No user is signed in");
  const wanted = ids && ids.length ? new Set(ids) : null;
  const records = (await gallery.list()).filter((r) => r.readable && (!wanted || wanted.has(r.id)));
  const withPng = [];
  for (const r of records) withPng.push({ ...r, png: await gallery.image(r.id) });
  return new Blob([buildExport(withPng)], { type: "application/zip" });
}

/** Import an export zip for this account: encrypted on the way in, known ids skipped. */
async function importZip(file) {
  const gallery = await state.ready;
  if (!gallery) throw new Error("Please log in to import.");
  const bytes = new Uint8Array(await (file.arrayBuffer ? file.arrayBuffer() : new Blob([file]).arrayBuffer()));
  const entries = parseExport(bytes);
  let added = 0;
  // Chunks of 50: each is one transaction, so a full browser keeps every earlier chunk.
  for (let i = 0; i < entries.length; i += 50) {
    const chunk = entries.slice(i, i + 50);
    for (const entry of chunk) entry.thumb = await makeThumb(entry.png);
    added += await gallery.add(chunk);
  }
  if (added) await askPersistence();
  await refresh();
  return { added, skipped: entries.length - added };
}

async function wipe(account) {
  const n = await wipeAccount(await db(), String(account));
  await refresh();
  return n;
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.gallery && state.galleries.size) refresh();
});

if (!window.AICreative) {
  window.AICreative = Object.freeze({
    version: 2,
    setUser,
    connect,
    receive,
    mountGallery,
    mountUsage,
    refresh,
    usage,
    account: () => (state.gallery ? state.gallery.account : null),
    ready: () => state.ready || Promise.resolve(null),
    exportZip,
    importZip,
    wipeAccount: wipe,
    usageOf: async (account) => usageOf(await db(), String(account)),
  });
}
