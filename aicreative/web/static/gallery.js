/*
 * AI Creative — the gallery that lives in the user's browser (privacy contract item 3).
 *
 * Images arrive from the server as base64 data URLs inside a Gradio value, are turned into
 * PNG Blobs here and kept in IndexedDB (database "aicreative", store "images"), separated per
 * username. Nothing here talks to the network: no fetch, no XHR, no sockets, no storage other
 * than IndexedDB, no external URLs. All user text goes into the DOM as text, never as markup.
 *
 * Public API (window.AICreative):
 *   setUser(username)                 -> Promise<void>
 *   receive(payload, latestElement?)  -> Promise<number>   (images stored; never rejects)
 *   mountGallery(element)             -> Promise<void>
 *   mountUsage(element)               -> Promise<void>
 *   usage(username?)                  -> Promise<{count, bytes}>
 *   renameUser(oldName, newName)      -> Promise<number>   (records moved)
 *   wipeUser(username)                -> Promise<number>   (records deleted)
 *   exportZip(username?)              -> Promise<Blob>     (application/zip)
 *   refresh()                         -> Promise<void>     (re-render everything mounted)
 */
(function () {
  "use strict";

  if (window.AICreative && window.AICreative.__acGallery) {
    return; // loaded twice: keep the first instance and its state
  }

  var DB_NAME = "aicreative";
  var DB_VERSION = 1;
  var STORE = "images";
  var FULL_MESSAGE = "This browser refused to store more images (storage full). Export and delete some.";
  var UNAVAILABLE_MESSAGE =
    "This browser cannot keep a gallery (its storage, IndexedDB, is unavailable here). " +
    "Download the images you want to keep.";
  var EMPTY_MESSAGE = "No images yet \u2014 generate some in the Create tab. They are kept only in this browser.";

  var state = {
    user: null, // lowercased key
    displayName: "", // as given to setUser
    queue: [], // receive() calls made before setUser
    seenBatches: new Set(), // batch ids handled in this page (Gradio may fire twice)
    galleries: new Set(),
    usages: new Set(),
    error: "", // shown in every gallery toolbar
    refreshing: null,
    refreshAgain: false,
  };

  var everConnected = new WeakMap(); // element -> true once seen in the document
  var latestUrls = new WeakMap(); // latest element -> [object URLs]

  // ------------------------------------------------------------------ helpers

  function log(err) {
    try {
      if (window.console && console.warn) console.warn("[AICreative]", err);
    } catch (e) {
      /* ignore */
    }
  }

  function userKey(name) {
    if (name === null || name === undefined) return "";
    return String(name).trim().toLowerCase();
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "className") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key === "testid") node.setAttribute("data-testid", value);
        else if (key.slice(0, 2) === "on" && typeof value === "function") node.addEventListener(key.slice(2), value);
        else if (value === true) node.setAttribute(key, "");
        else node.setAttribute(key, String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function button(label, testid, variant, onclick) {
    return el("button", {
      type: "button",
      className: "ac-btn" + (variant ? " ac-btn-" + variant : ""),
      testid: testid,
      text: label,
      onclick: function (event) {
        try {
          onclick(event);
        } catch (err) {
          log(err);
        }
      },
    });
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function formatMB(bytes) {
    bytes = Number(bytes) || 0;
    if (bytes <= 0) return "0 MB";
    var mb = bytes / (1024 * 1024);
    if (mb < 0.1) return Math.max(0.01, mb).toFixed(2) + " MB";
    if (mb < 100) return mb.toFixed(1) + " MB";
    return Math.round(mb) + " MB";
  }

  function formatDate(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso || "");
    try {
      return d.toLocaleString();
    } catch (e) {
      return d.toISOString();
    }
  }

  function randomId() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    // Non-secure contexts (plain http on a LAN address) lack randomUUID: build a v4 UUID.
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  /** data:[<mime>][;base64],<data> -> Blob, without fetch (CSP connect-src 'self'). */
  function dataUrlToBlob(dataUrl) {
    if (typeof dataUrl !== "string" || dataUrl.slice(0, 5).toLowerCase() !== "data:") {
      throw new Error("not a data URL");
    }
    var comma = dataUrl.indexOf(",");
    if (comma < 0) throw new Error("malformed data URL");
    var header = dataUrl.slice(5, comma);
    var body = dataUrl.slice(comma + 1);
    var parts = header.split(";");
    var mime = (parts[0] || "image/png").trim().toLowerCase() || "image/png";
    if (!/^image\/[a-z0-9.+-]+$/.test(mime)) throw new Error("not an image data URL");
    var bytes;
    if (parts.slice(1).some(function (p) { return p.trim().toLowerCase() === "base64"; })) {
      var binary = atob(body.replace(/\s+/g, ""));
      bytes = new Uint8Array(binary.length);
      for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    } else {
      bytes = new TextEncoder().encode(decodeURIComponent(body));
    }
    return new Blob([bytes], { type: mime });
  }

  function downloadBlob(blob, filename) {
    var url = URL.createObjectURL(blob);
    var a = el("a", { href: url, download: filename, className: "ac-hidden-link" });
    (document.body || document.documentElement).appendChild(a);
    try {
      a.click();
    } finally {
      a.remove();
      setTimeout(function () {
        URL.revokeObjectURL(url);
      }, 30000);
    }
  }

  function safeFilePart(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 64);
  }

  function imageFileName(record) {
    return "aicreative-" + (safeFilePart(record.seed) || "image") + ".png";
  }

  function isQuotaError(err) {
    if (!err) return false;
    var name = err.name || "";
    return name === "QuotaExceededError" || name === "NS_ERROR_DOM_QUOTA_REACHED" || err.code === 22;
  }

  function setError(message) {
    state.error = message || "";
    state.galleries.forEach(function (root) {
      var g = root.__acGallery;
      if (g) renderError(g);
    });
  }

  function errorFor(err) {
    if (isQuotaError(err)) return FULL_MESSAGE;
    if (err && err.acUnavailable) return UNAVAILABLE_MESSAGE;
    return "The gallery could not be saved in this browser (" + ((err && (err.name || err.message)) || "error") + ").";
  }

  // ---------------------------------------------------------------- IndexedDB

  var dbPromise = null;

  function openDb() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      var req;
      try {
        if (!window.indexedDB) throw new Error("IndexedDB unavailable");
        req = indexedDB.open(DB_NAME, DB_VERSION);
      } catch (err) {
        err.acUnavailable = true;
        reject(err);
        return;
      }
      req.onupgradeneeded = function () {
        var db = req.result;
        var store = db.objectStoreNames.contains(STORE)
          ? req.transaction.objectStore(STORE)
          : db.createObjectStore(STORE, { keyPath: "id" });
        if (!store.indexNames.contains("user")) store.createIndex("user", "user", { unique: false });
        if (!store.indexNames.contains("batch")) store.createIndex("batch", "batch", { unique: false });
      };
      req.onsuccess = function () {
        var db = req.result;
        db.onversionchange = function () {
          db.close();
          dbPromise = null;
        };
        db.onclose = function () {
          dbPromise = null;
        };
        resolve(db);
      };
      req.onerror = function () {
        var err = req.error || new Error("IndexedDB open failed");
        try {
          err.acUnavailable = true;
        } catch (e) {
          /* DOMException may be frozen */
        }
        reject(err);
      };
      req.onblocked = function () {
        log("IndexedDB upgrade blocked by another tab");
      };
    });
    dbPromise.catch(function () {
      dbPromise = null; // try again next time
    });
    return dbPromise;
  }

  /** Run fn(store, tx) in one transaction; resolves with fn's result once it commits. */
  function withStore(mode, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx;
        try {
          tx = db.transaction(STORE, mode);
        } catch (err) {
          reject(err);
          return;
        }
        var result;
        tx.oncomplete = function () {
          resolve(result);
        };
        tx.onerror = function (event) {
          // Keep the first error; abort follows.
          if (event && event.target && event.target.error) tx.__acError = tx.__acError || event.target.error;
        };
        tx.onabort = function () {
          reject(tx.error || tx.__acError || new Error("IndexedDB transaction aborted"));
        };
        try {
          var out = fn(tx.objectStore(STORE), tx);
          if (out && typeof out.then === "function") {
            out.then(function (v) {
              result = v;
            });
          } else {
            result = out;
          }
        } catch (err) {
          try {
            tx.abort();
          } catch (e) {
            /* already finished */
          }
          reject(err);
        }
      });
    });
  }

  function reqPromise(req) {
    return new Promise(function (resolve, reject) {
      req.onsuccess = function () {
        resolve(req.result);
      };
      req.onerror = function () {
        reject(req.error);
      };
    });
  }

  function recordsOf(user) {
    if (!user) return Promise.resolve([]);
    return withStore("readonly", function (store) {
      var holder = { v: [] };
      var req = store.index("user").getAll(IDBKeyRange.only(user));
      req.onsuccess = function () {
        holder.v = req.result || [];
      };
      return holder;
    }).then(function (holder) {
      return sortNewestFirst(holder.v);
    });
  }

  function sortNewestFirst(records) {
    return records.slice().sort(function (a, b) {
      var ta = Date.parse(a.created) || 0;
      var tb = Date.parse(b.created) || 0;
      if (ta !== tb) return tb - ta;
      if (a.batch !== b.batch) return String(b.batch) < String(a.batch) ? -1 : 1;
      var sa = Number(a.seed), sb = Number(b.seed);
      if (!isNaN(sa) && !isNaN(sb) && sa !== sb) return sa - sb;
      return String(a.id) < String(b.id) ? -1 : 1;
    });
  }

  function batchStored(user, batch) {
    return withStore("readonly", function (store) {
      var holder = { v: false };
      var req = store.index("batch").getAll(IDBKeyRange.only(batch));
      req.onsuccess = function () {
        holder.v = (req.result || []).some(function (r) {
          return r.user === user;
        });
      };
      return holder;
    }).then(function (holder) {
      return holder.v;
    });
  }

  function putRecords(records) {
    return withStore("readwrite", function (store) {
      records.forEach(function (r) {
        store.put(r);
      });
      return records.length;
    });
  }

  function deleteIds(ids) {
    return withStore("readwrite", function (store) {
      ids.forEach(function (id) {
        store.delete(id);
      });
      return ids.length;
    });
  }

  function deleteUserRecords(user) {
    return withStore("readwrite", function (store) {
      var holder = { v: 0 };
      var req = store.index("user").openCursor(IDBKeyRange.only(user));
      req.onsuccess = function () {
        var cursor = req.result;
        if (!cursor) return;
        cursor.delete();
        holder.v += 1;
        cursor.continue();
      };
      return holder;
    }).then(function (holder) {
      return holder.v;
    });
  }

  function moveUserRecords(fromUser, toUser) {
    return withStore("readwrite", function (store) {
      var holder = { v: 0 };
      var req = store.index("user").openCursor(IDBKeyRange.only(fromUser));
      req.onsuccess = function () {
        var cursor = req.result;
        if (!cursor) return;
        var value = cursor.value;
        value.user = toUser;
        cursor.update(value);
        holder.v += 1;
        cursor.continue();
      };
      return holder;
    }).then(function (holder) {
      return holder.v;
    });
  }

  // ------------------------------------------------------------------ receive

  function normalisePayload(payload) {
    if (payload === null || payload === undefined || payload === "") return null;
    if (typeof payload === "string") {
      try {
        payload = JSON.parse(payload);
      } catch (e) {
        return null;
      }
    }
    if (typeof payload !== "object" || Array.isArray(payload)) return null;
    if (payload.kind && payload.kind !== "generation") return null;
    if (!Array.isArray(payload.images) || payload.images.length === 0) return null;
    return payload;
  }

  function buildRecords(payload, user) {
    var created = payload.created && !isNaN(Date.parse(payload.created)) ? String(payload.created) : new Date().toISOString();
    var settings = payload.settings && typeof payload.settings === "object" ? payload.settings : {};
    var records = [];
    payload.images.forEach(function (image) {
      if (!image || typeof image !== "object") return;
      var blob;
      try {
        blob = dataUrlToBlob(image.data_url);
      } catch (err) {
        log(err);
        return;
      }
      records.push({
        id: randomId(),
        user: user,
        batch: String(payload.batch),
        created: created,
        prompt: payload.prompt === null || payload.prompt === undefined ? "" : String(payload.prompt),
        negative_prompt:
          payload.negative_prompt === null || payload.negative_prompt === undefined ? "" : String(payload.negative_prompt),
        seed: image.seed === undefined ? null : image.seed,
        settings: JSON.parse(JSON.stringify(settings)),
        blob: blob,
        bytes: blob.size,
      });
    });
    return records;
  }

  function receiveNow(payload, latestElement) {
    var user = state.user;
    var payloadUser = userKey(payload.user);
    if (!user || payloadUser !== user) {
      log("generation for another user ignored");
      return Promise.resolve(0);
    }
    var batch = String(payload.batch || "");
    if (!batch) batch = "batch-" + randomId();

    if (state.seenBatches.has(batch)) {
      return showStoredBatch(batch, latestElement).then(function () {
        return 0;
      });
    }
    state.seenBatches.add(batch);

    var records = buildRecords(Object.assign({}, payload, { batch: batch }), user);
    if (records.length === 0) return Promise.resolve(0);

    return batchStored(user, batch)
      .catch(function () {
        return false;
      })
      .then(function (already) {
        if (already) {
          return showStoredBatch(batch, latestElement).then(function () {
            return 0;
          });
        }
        if (latestElement) renderLatest(latestElement, records, batch, "");
        return putRecords(records).then(
          function (n) {
            if (state.error) setError("");
            return refresh().then(function () {
              return n;
            });
          },
          function (err) {
            log(err);
            var message = errorFor(err);
            setError(message);
            if (latestElement) renderLatest(latestElement, records, batch, message);
            return 0;
          }
        );
      });
  }

  function showStoredBatch(batch, latestElement) {
    if (!latestElement) return Promise.resolve();
    var shown = latestElement.querySelector(".ac-latest-grid");
    if (shown && shown.getAttribute("data-ac-batch") === batch) return Promise.resolve();
    return recordsOf(state.user)
      .then(function (records) {
        var mine = records.filter(function (r) {
          return r.batch === batch;
        });
        if (mine.length) renderLatest(latestElement, mine, batch, "");
      })
      .catch(log);
  }

  // --------------------------------------------------------------- rendering

  function renderLatest(element, records, batch, message) {
    try {
      (latestUrls.get(element) || []).forEach(function (u) {
        URL.revokeObjectURL(u);
      });
      var urls = [];
      clear(element);
      element.classList.add("ac-latest");
      var grid = el("div", {
        className: "ac-latest-grid" + (records.length === 1 ? " ac-latest-single" : ""),
        "data-ac-batch": batch,
      });
      records.forEach(function (record) {
        var url = URL.createObjectURL(record.blob);
        urls.push(url);
        var img = el("img", {
          className: "ac-latest-img",
          src: url,
          alt: record.prompt ? "Generated image: " + record.prompt : "Generated image",
          testid: "latest-image",
          "data-seed": record.seed,
        });
        var caption = el("div", { className: "ac-latest-bar" }, [
          el("span", { className: "ac-muted", text: "Seed " + (record.seed === null ? "\u2014" : record.seed) }),
          button("Download", "latest-download", "primary", function () {
            downloadBlob(record.blob, imageFileName(record));
          }),
        ]);
        grid.appendChild(el("figure", { className: "ac-latest-item" }, [img, caption]));
      });
      element.appendChild(grid);
      element.appendChild(
        el("p", {
          className: message ? "ac-note ac-note-error" : "ac-note",
          role: message ? "alert" : null,
          text: message || "Saved to your gallery in this browser only.",
        })
      );
      latestUrls.set(element, urls);
    } catch (err) {
      log(err);
    }
  }

  function pruneMounted(set) {
    Array.from(set).forEach(function (element) {
      if (element.isConnected) {
        everConnected.set(element, true);
      } else if (everConnected.get(element)) {
        set.delete(element);
        if (element.__acGallery) releaseGallery(element.__acGallery);
      }
    });
  }

  function buildGallery(element) {
    clear(element);
    var g = { element: element, urls: [], records: [], current: null, viewerUrl: null, busy: false };
    g.count = el("span", { className: "ac-gal-count", testid: "gallery-count", "aria-live": "polite" });
    g.exportBtn = button("Export all (.zip)", "export-zip", "primary", function () {
      onExport(g);
    });
    g.deleteAllBtn = button("Delete all", "delete-all", "danger", function () {
      onDeleteAll(g);
    });
    g.errorBox = el("div", { className: "ac-gal-error", testid: "gallery-error", role: "alert", hidden: true });
    g.toolbar = el("div", { className: "ac-gal-toolbar" }, [
      g.count,
      el("div", { className: "ac-gal-actions" }, [g.exportBtn, g.deleteAllBtn]),
      g.errorBox,
    ]);
    g.grid = el("div", { className: "ac-gal-grid", testid: "gallery-grid" });
    g.empty = el("p", { className: "ac-gal-empty", testid: "gallery-empty", text: EMPTY_MESSAGE, hidden: true });

    // Viewer
    g.viewerImg = el("img", { className: "ac-viewer-img", alt: "" });
    g.viewerPrompt = el("p", { className: "ac-viewer-prompt", testid: "viewer-prompt" });
    g.viewerNegative = el("p", { className: "ac-viewer-negative", testid: "viewer-negative" });
    g.viewerSettings = el("dl", { className: "ac-viewer-settings", testid: "viewer-settings" });
    g.viewer = el("dialog", { className: "ac-viewer", testid: "viewer", "aria-label": "Image viewer" }, [
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
            button("Download PNG", "viewer-download", "primary", function () {
              if (g.current) downloadBlob(g.current.blob, imageFileName(g.current));
            }),
            button("Delete", "viewer-delete", "danger", function () {
              onDeleteOne(g);
            }),
            button("Close", "viewer-close", "", function () {
              closeViewer(g);
            }),
          ]),
        ]),
      ]),
    ]);
    g.viewer.addEventListener("close", function () {
      releaseViewer(g);
    });
    g.viewer.addEventListener("click", function (event) {
      if (event.target === g.viewer) closeViewer(g); // click on the backdrop
    });

    g.root = el("div", { className: "ac-gallery", hidden: true }, [g.toolbar, g.grid, g.empty, g.viewer]);
    element.appendChild(g.root);
    element.__acGallery = g;
    return g;
  }

  function releaseGallery(g) {
    g.urls.forEach(function (u) {
      URL.revokeObjectURL(u);
    });
    g.urls = [];
    releaseViewer(g);
  }

  function renderError(g) {
    g.errorBox.textContent = state.error;
    g.errorBox.hidden = !state.error;
  }

  function renderGallery(g, records) {
    if (!state.user) {
      g.root.hidden = true;
      releaseGallery(g);
      clear(g.grid);
      closeViewer(g);
      return;
    }
    g.root.hidden = false;
    g.records = records;
    var bytes = records.reduce(function (sum, r) {
      return sum + (Number(r.bytes) || 0);
    }, 0);
    g.count.textContent = plural(records.length, "image") + " \u00b7 " + formatMB(bytes) + " in this browser";
    g.exportBtn.disabled = g.busy || records.length === 0;
    g.deleteAllBtn.disabled = g.busy || records.length === 0;
    renderError(g);

    var oldUrls = g.urls;
    var urls = [];
    var fragment = document.createDocumentFragment();
    records.forEach(function (record) {
      var url = URL.createObjectURL(record.blob);
      urls.push(url);
      var label = "Open image" + (record.prompt ? ": " + record.prompt : "");
      var item = el(
        "button",
        {
          type: "button",
          className: "ac-gal-item",
          testid: "gallery-item",
          title: record.prompt || "",
          "aria-label": label.length > 200 ? label.slice(0, 199) + "\u2026" : label,
          "data-id": record.id,
          onclick: function () {
            try {
              openViewer(g, record);
            } catch (err) {
              log(err);
            }
          },
        },
        [el("img", { src: url, alt: "", loading: "lazy", decoding: "async" })]
      );
      fragment.appendChild(item);
    });
    clear(g.grid);
    g.grid.appendChild(fragment);
    g.grid.hidden = records.length === 0;
    g.empty.hidden = records.length !== 0;
    g.urls = urls;
    oldUrls.forEach(function (u) {
      URL.revokeObjectURL(u);
    });

    if (g.current) {
      var still = records.filter(function (r) {
        return r.id === g.current.id;
      })[0];
      if (!still) closeViewer(g);
    }
  }

  function settingRows(record) {
    var s = record.settings || {};
    var rows = [];
    if (s.width || s.height) rows.push(["Size", (s.width || "?") + " \u00d7 " + (s.height || "?")]);
    if (s.steps !== undefined) rows.push(["Steps", s.steps]);
    if (s.guidance !== undefined) rows.push(["Guidance", s.guidance]);
    rows.push(["Seed", record.seed === null || record.seed === undefined ? "\u2014" : record.seed]);
    if (s.backend !== undefined) rows.push(["Backend", s.backend]);
    rows.push(["Date", formatDate(record.created)]);
    return rows;
  }

  function openViewer(g, record) {
    releaseViewer(g);
    g.current = record;
    g.viewerUrl = URL.createObjectURL(record.blob);
    g.viewerImg.src = g.viewerUrl;
    g.viewerImg.alt = record.prompt ? "Image: " + record.prompt : "Image";
    g.viewerPrompt.textContent = record.prompt || "\u2014";
    g.viewerNegative.textContent = record.negative_prompt || "\u2014";
    clear(g.viewerSettings);
    settingRows(record).forEach(function (row) {
      g.viewerSettings.appendChild(el("dt", { text: row[0] }));
      g.viewerSettings.appendChild(el("dd", { text: row[1] }));
    });
    if (!g.viewer.open) {
      if (typeof g.viewer.showModal === "function") {
        try {
          g.viewer.showModal();
        } catch (err) {
          g.viewer.setAttribute("open", "");
        }
      } else {
        g.viewer.setAttribute("open", "");
      }
    }
  }

  function releaseViewer(g) {
    if (g.viewerUrl) {
      URL.revokeObjectURL(g.viewerUrl);
      g.viewerUrl = null;
    }
    if (g.viewerImg) g.viewerImg.removeAttribute("src");
    g.current = null;
  }

  function closeViewer(g) {
    try {
      if (g.viewer.open) {
        if (typeof g.viewer.close === "function") g.viewer.close();
        else g.viewer.removeAttribute("open");
      }
    } catch (err) {
      log(err);
    }
    releaseViewer(g);
  }

  function setBusy(g, busy) {
    g.busy = busy;
    g.exportBtn.disabled = busy || g.records.length === 0;
    g.deleteAllBtn.disabled = busy || g.records.length === 0;
  }

  function onExport(g) {
    if (!state.user || g.busy) return;
    var user = state.user;
    var name = state.displayName || user;
    setBusy(g, true);
    g.exportBtn.textContent = "Exporting\u2026";
    exportZip(user)
      .then(function (blob) {
        downloadBlob(blob, "aicreative-gallery-" + (safeFilePart(name) || "user") + ".zip");
      })
      .catch(function (err) {
        log(err);
        setError("Export failed: " + ((err && err.message) || "unknown error"));
      })
      .then(function () {
        g.exportBtn.textContent = "Export all (.zip)";
        setBusy(g, false);
      });
  }

  function onDeleteAll(g) {
    if (!state.user || g.busy) return;
    var n = g.records.length;
    if (!n) return;
    var ok = window.confirm(
      "Delete all " + plural(n, "image") + " stored in this browser? This cannot be undone. " +
        "Export them first if you want to keep them."
    );
    if (!ok) return;
    setBusy(g, true);
    wipeUser(state.user)
      .then(function () {
        setError("");
      })
      .catch(function (err) {
        log(err);
        setError(errorFor(err));
      })
      .then(function () {
        setBusy(g, false);
        return refresh();
      });
  }

  function onDeleteOne(g) {
    var record = g.current;
    if (!record) return;
    closeViewer(g);
    deleteIds([record.id])
      .then(function () {
        if (state.error === FULL_MESSAGE) setError("");
      })
      .catch(function (err) {
        log(err);
        setError(errorFor(err));
      })
      .then(refresh);
  }

  function renderUsage(element, info) {
    element.classList.add("ac-usage");
    element.setAttribute("data-testid", "usage");
    if (!state.user) {
      element.textContent = "";
      return;
    }
    element.textContent = info
      ? plural(info.count, "image") + ", " + formatMB(info.bytes) + " stored in this browser"
      : "Storage in this browser is unavailable";
  }

  /** Re-render every mounted gallery and usage display; concurrent calls coalesce. */
  function refresh() {
    if (state.refreshing) {
      state.refreshAgain = true;
      return state.refreshing;
    }
    state.refreshing = (function run() {
      state.refreshAgain = false;
      pruneMounted(state.galleries);
      pruneMounted(state.usages);
      var user = state.user;
      return recordsOf(user)
        .then(
          function (records) {
            return { ok: true, records: records };
          },
          function (err) {
            log(err);
            if (user) setError(errorFor(err));
            return { ok: false, records: [] };
          }
        )
        .then(function (result) {
          if (user !== state.user) return; // user changed meanwhile: the next run renders
          var bytes = result.records.reduce(function (s, r) {
            return s + (Number(r.bytes) || 0);
          }, 0);
          state.galleries.forEach(function (element) {
            try {
              var g = element.__acGallery || buildGallery(element);
              renderGallery(g, result.records);
            } catch (err) {
              log(err);
            }
          });
          state.usages.forEach(function (element) {
            try {
              renderUsage(element, result.ok ? { count: result.records.length, bytes: bytes } : null);
            } catch (err) {
              log(err);
            }
          });
        })
        .then(function () {
          if (state.refreshAgain || user !== state.user) return run();
        });
    })()
      .catch(log)
      .then(function () {
        state.refreshing = null;
      });
    return state.refreshing;
  }

  // ----------------------------------------------------------------------- ZIP

  var CRC_TABLE = (function () {
    var table = new Uint32Array(256);
    for (var n = 0; n < 256; n++) {
      var c = n;
      for (var k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    var crc = 0xffffffff;
    for (var i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  }

  function dosDateTime(date) {
    var d = date && !isNaN(date.getTime()) ? date : new Date();
    var year = Math.min(Math.max(d.getFullYear(), 1980), 2107);
    return {
      time: ((d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1)) & 0xffff,
      date: (((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate()) & 0xffff,
    };
  }

  function blobBytes(blob) {
    if (typeof blob.arrayBuffer === "function") {
      return blob.arrayBuffer().then(function (buf) {
        return new Uint8Array(buf);
      });
    }
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () {
        resolve(new Uint8Array(reader.result));
      };
      reader.onerror = function () {
        reject(reader.error);
      };
      reader.readAsArrayBuffer(blob);
    });
  }

  /**
   * Minimal ZIP writer (STORE, no compression; PNG is already compressed).
   * entries: [{name, data: Blob|Uint8Array, date: Date}] -> Promise<Blob>
   */
  function buildZip(entries) {
    var encoder = new TextEncoder();
    var parts = [];
    var central = [];
    var offset = 0;
    var chain = Promise.resolve();
    if (entries.length > 0xffff) return Promise.reject(new Error("Too many images for one zip file; delete some first."));

    entries.forEach(function (entry) {
      chain = chain.then(function () {
        var data = entry.data;
        var read = data instanceof Uint8Array ? Promise.resolve(data) : blobBytes(data);
        return read.then(function (bytes) {
          var name = encoder.encode(entry.name);
          var crc = crc32(bytes);
          var size = bytes.length;
          var dt = dosDateTime(entry.date);
          if (offset + 30 + name.length + size > 0xffffffff) {
            throw new Error("The gallery is too large for one zip file (over 4 GB); export after deleting some images.");
          }
          var local = new DataView(new ArrayBuffer(30));
          local.setUint32(0, 0x04034b50, true);
          local.setUint16(4, 20, true); // version needed
          local.setUint16(6, 0x0800, true); // UTF-8 names
          local.setUint16(8, 0, true); // STORE
          local.setUint16(10, dt.time, true);
          local.setUint16(12, dt.date, true);
          local.setUint32(14, crc, true);
          local.setUint32(18, size, true);
          local.setUint32(22, size, true);
          local.setUint16(26, name.length, true);
          local.setUint16(28, 0, true);
          parts.push(new Uint8Array(local.buffer), name, data instanceof Uint8Array ? bytes : data);

          var cd = new DataView(new ArrayBuffer(46));
          cd.setUint32(0, 0x02014b50, true);
          cd.setUint16(4, 0x031e, true); // made by: Unix, spec 3.0
          cd.setUint16(6, 20, true);
          cd.setUint16(8, 0x0800, true);
          cd.setUint16(10, 0, true);
          cd.setUint16(12, dt.time, true);
          cd.setUint16(14, dt.date, true);
          cd.setUint32(16, crc, true);
          cd.setUint32(20, size, true);
          cd.setUint32(24, size, true);
          cd.setUint16(28, name.length, true);
          cd.setUint16(30, 0, true); // extra
          cd.setUint16(32, 0, true); // comment
          cd.setUint16(34, 0, true); // disk
          cd.setUint16(36, 0, true); // internal attributes
          cd.setUint32(38, 0x81a40000, true); // external: regular file, 0644
          cd.setUint32(42, offset, true);
          central.push(new Uint8Array(cd.buffer), name);
          offset += 30 + name.length + size;
        });
      });
    });

    return chain.then(function () {
      var cdSize = central.reduce(function (s, p) {
        return s + p.length;
      }, 0);
      if (offset + cdSize > 0xffffffff) throw new Error("The gallery is too large for one zip file (over 4 GB).");
      var end = new DataView(new ArrayBuffer(22));
      end.setUint32(0, 0x06054b50, true);
      end.setUint16(4, 0, true);
      end.setUint16(6, 0, true);
      end.setUint16(8, entries.length, true);
      end.setUint16(10, entries.length, true);
      end.setUint32(12, cdSize, true);
      end.setUint32(16, offset, true);
      end.setUint16(20, 0, true);
      return new Blob(parts.concat(central, [new Uint8Array(end.buffer)]), { type: "application/zip" });
    });
  }

  function zipStamp(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "undated";
    var p = function (n) {
      return (n < 10 ? "0" : "") + n;
    };
    return (
      d.getUTCFullYear() + "-" + p(d.getUTCMonth() + 1) + "-" + p(d.getUTCDate()) + "-" +
      p(d.getUTCHours()) + p(d.getUTCMinutes()) + p(d.getUTCSeconds())
    );
  }

  // --------------------------------------------------------------- public API

  function setUser(username) {
    try {
      var key = userKey(username);
      if ((key || null) !== state.user) state.error = ""; // a message belongs to the user who saw it
      state.user = key || null;
      state.displayName = key ? String(username).trim() : "";
      var queued = state.queue;
      state.queue = [];
      var work = Promise.resolve();
      queued.forEach(function (item) {
        work = work.then(function () {
          return receiveNow(item.payload, item.latestElement).catch(log);
        });
      });
      return work.then(refresh).catch(log);
    } catch (err) {
      log(err);
      return Promise.resolve();
    }
  }

  function receive(payload, latestElement) {
    try {
      var p = normalisePayload(payload);
      if (!p) return Promise.resolve(0);
      var target = latestElement && latestElement.nodeType === 1 ? latestElement : null;
      if (!state.user) {
        state.queue.push({ payload: p, latestElement: target });
        return Promise.resolve(0);
      }
      return receiveNow(p, target).catch(function (err) {
        log(err);
        return 0;
      });
    } catch (err) {
      log(err);
      return Promise.resolve(0);
    }
  }

  function mountGallery(element) {
    try {
      if (!element || element.nodeType !== 1) return Promise.resolve();
      if (!element.__acGallery || !element.contains(element.__acGallery.root)) {
        if (element.__acGallery) releaseGallery(element.__acGallery);
        buildGallery(element);
      }
      state.galleries.add(element);
      return refresh();
    } catch (err) {
      log(err);
      return Promise.resolve();
    }
  }

  function mountUsage(element) {
    try {
      if (!element || element.nodeType !== 1) return Promise.resolve();
      state.usages.add(element);
      return refresh();
    } catch (err) {
      log(err);
      return Promise.resolve();
    }
  }

  function usage(username) {
    var user = username === undefined || username === null ? state.user : userKey(username);
    if (!user) return Promise.resolve({ count: 0, bytes: 0 });
    return recordsOf(user).then(function (records) {
      return {
        count: records.length,
        bytes: records.reduce(function (s, r) {
          return s + (Number(r.bytes) || 0);
        }, 0),
      };
    });
  }

  function renameUser(oldName, newName) {
    var from = userKey(oldName);
    var to = userKey(newName);
    if (!from || !to) return Promise.reject(new Error("renameUser needs two usernames"));
    if (from === to) {
      if (state.user === from) state.displayName = String(newName).trim();
      return Promise.resolve(0);
    }
    return moveUserRecords(from, to).then(function (n) {
      if (state.user === from) {
        state.user = to;
        state.displayName = String(newName).trim();
      }
      return refresh().then(function () {
        return n;
      });
    });
  }

  function wipeUser(username) {
    var user = userKey(username);
    if (!user) return Promise.reject(new Error("wipeUser needs a username"));
    return deleteUserRecords(user).then(function (n) {
      return refresh().then(function () {
        return n;
      });
    });
  }

  function exportZip(username) {
    var user = username === undefined || username === null ? state.user : userKey(username);
    if (!user) return Promise.reject(new Error("No user is signed in"));
    return recordsOf(user).then(function (records) {
      var used = new Set();
      var entries = [];
      var meta = [];
      records.forEach(function (r) {
        var base =
          "aicreative-" + zipStamp(r.created) + "-" + (safeFilePart(r.seed) || "noseed") + "-" + String(r.id).replace(/-/g, "").slice(0, 8);
        var name = base + ".png";
        for (var i = 2; used.has(name); i++) name = base + "-" + i + ".png";
        used.add(name);
        entries.push({ name: name, data: r.blob, date: new Date(r.created) });
        meta.push({
          file: name,
          prompt: r.prompt,
          negative_prompt: r.negative_prompt,
          settings: r.settings,
          seed: r.seed,
          created: r.created,
          batch: r.batch,
          bytes: r.bytes,
        });
      });
      var json = JSON.stringify(
        { app: "AI Creative", exported: new Date().toISOString(), user: user, count: meta.length, images: meta },
        null,
        2
      );
      entries.push({ name: "gallery.json", data: new TextEncoder().encode(json + "\n"), date: new Date() });
      return buildZip(entries);
    });
  }

  // Keep other tabs' changes visible when the user comes back to this one.
  try {
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && state.user && (state.galleries.size || state.usages.size)) refresh();
    });
  } catch (err) {
    log(err);
  }

  window.AICreative = Object.freeze({
    __acGallery: true,
    version: 1,
    setUser: setUser,
    receive: receive,
    mountGallery: mountGallery,
    mountUsage: mountUsage,
    usage: usage,
    renameUser: renameUser,
    wipeUser: wipeUser,
    exportZip: exportZip,
    refresh: refresh,
  });
})();
