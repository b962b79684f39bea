/**
 * The gallery's storage in IndexedDB (through the vendored `idb`), encrypted per account.
 *
 * Owns the database layout and every read and write. Database "aicreative", version 2:
 *   items  {id, account, kid, created, bytes, meta}  meta = sealed JSON (prompt, negative
 *          prompt, settings, seed, batch); index "account"
 *   thumbs {id, account, data}   data = sealed thumbnail (made in the browser)
 *   blobs  {id, account, data}   data = sealed PNG
 *   images (version 1, plain) read once to move the signed-in user's old records in, then
 *          emptied of them.
 * `account` is the account id (never a name), `created` (a date) and `bytes` (sizes) are the
 * only plain values: they order the grid and count the space without the key. A batch of
 * images is written in one transaction, so a full browser (QuotaExceededError) stores none
 * of it and loses nothing stored before.
 */
import { openDB } from "../vendor/idb.js";
import { aad, decrypt, decryptJson, encrypt, encryptJson } from "./crypto.js";

export const DB_NAME = "aicreative";
export const DB_VERSION = 2;
const STORES = ["items", "thumbs", "blobs"];

export function isQuotaError(err) {
  const name = (err && err.name) || "";
  return name === "QuotaExceededError" || name === "NS_ERROR_DOM_QUOTA_REACHED" || (err && err.code === 22);
}

/** Open (and create or upgrade) the gallery database. */
export function openGalleryDb(name = DB_NAME) {
  return openDB(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      for (const store of STORES) {
        if (!db.objectStoreNames.contains(store)) {
          db.createObjectStore(store, { keyPath: "id" }).createIndex("account", "account");
        }
      }
      // Version 1 kept plain PNGs and prompts under a username in "images": the store stays
      // until the user it belongs to logs in and their records are moved in, encrypted.
      void oldVersion;
    },
    blocking() {
      // Another tab needs a newer version: step aside.
    },
  });
}

function newestFirst(a, b) {
  if (a.created !== b.created) return a.created < b.created ? 1 : -1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** One account's gallery, readable with its key only. */
export class Gallery {
  /** @param db an `idb` database; @param access {account, kid, key} from the server */
  constructor(db, { account, kid, key }) {
    this.db = db;
    this.account = account;
    this.kid = kid;
    this.key = key;
  }

  /**
   * Encrypt and store entries [{id, created, meta, png, thumb}] in one transaction.
   * Entries whose id is stored already are skipped. Resolves to the number stored.
   */
  async add(entries) {
    const { account, key } = this;
    const fresh = [];
    const seen = new Set();
    for (const entry of entries) {
      if (!entry || !entry.id || seen.has(entry.id) || (await this.has(entry.id))) continue;
      seen.add(entry.id);
      fresh.push(entry);
    }
    if (!fresh.length) return 0;
    // Encrypt first: a transaction must not wait on anything but IndexedDB.
    const rows = await Promise.all(
      fresh.map(async (e) => {
        const meta = await encryptJson(key, e.meta || {}, aad(account, e.id, "meta"));
        const png = await encrypt(key, e.png, aad(account, e.id, "png"));
        const thumb = e.thumb ? await encrypt(key, e.thumb, aad(account, e.id, "thumb")) : null;
        const bytes = meta.byteLength + png.byteLength + (thumb ? thumb.byteLength : 0);
        return {
          item: { id: e.id, account, kid: this.kid, created: String(e.created || ""), bytes, meta },
          blob: { id: e.id, account, data: png },
          thumb: thumb && { id: e.id, account, data: thumb },
        };
      }),
    );
    const tx = this.db.transaction(STORES, "readwrite");
    const writes = [];
    try {
      for (const row of rows) {
        writes.push(tx.objectStore("items").put(row.item), tx.objectStore("blobs").put(row.blob));
        if (row.thumb) writes.push(tx.objectStore("thumbs").put(row.thumb));
      }
    } catch (err) {
      // All of the batch or none of it: a half-stored image would show as damaged.
      for (const write of [...writes, tx.done]) write.catch(() => {});
      tx.abort();
      throw err;
    }
    await Promise.all([...writes, tx.done]);
    return rows.length;
  }

  async has(id) {
    const row = await this.db.getKey("items", id);
    return row !== undefined;
  }

  /** Every record of this account, newest first: {id, created, bytes, meta|null, readable}. */
  async list() {
    const rows = await this.db.getAllFromIndex("items", "account", this.account);
    const out = await Promise.all(
      rows.map(async (row) => {
        // null: made under another key (a rotated gallery secret) or damaged.
        const meta = await decryptJson(this.key, row.meta, aad(this.account, row.id, "meta")).catch(() => null);
        return { id: row.id, created: row.created, bytes: row.bytes, meta, readable: meta !== null };
      }),
    );
    return out.sort(newestFirst);
  }

  /** The decrypted PNG of a record. */
  async image(id) {
    const row = await this.db.get("blobs", id);
    if (!row || row.account !== this.account) throw new Error("No such image in this gallery.");
    return decrypt(this.key, row.data, aad(this.account, id, "png"));
  }

  /** The decrypted thumbnail of a record, or null when it has none. */
  async thumb(id) {
    const row = await this.db.get("thumbs", id);
    if (!row || row.account !== this.account) return null;
    return decrypt(this.key, row.data, aad(this.account, id, "thumb"));
  }

  /** Add a thumbnail to a record stored without one. */
  async putThumb(id, bytes) {
    const data = await encrypt(this.key, bytes, aad(this.account, id, "thumb"));
    const tx = this.db.transaction(["items", "thumbs"], "readwrite");
    const item = await tx.objectStore("items").get(id);
    if (item && item.account === this.account) {
      item.bytes += data.byteLength;
      tx.objectStore("items").put(item);
      tx.objectStore("thumbs").put({ id, account: this.account, data });
    }
    await tx.done;
  }

  /**
   * Delete records; resolves to their sealed rows, which `restore` puts back (undo)
   * without the plain data ever leaving the page's memory.
   */
  async remove(ids) {
    const tx = this.db.transaction(STORES, "readwrite");
    const removed = [];
    for (const id of ids) {
      const rows = {};
      for (const store of STORES) {
        const row = await tx.objectStore(store).get(id);
        if (row && row.account === this.account) rows[store] = row;
      }
      if (!rows.items) continue;
      for (const store of STORES) if (rows[store]) tx.objectStore(store).delete(id);
      removed.push(rows);
    }
    await tx.done;
    return removed;
  }

  async restore(removed) {
    const tx = this.db.transaction(STORES, "readwrite");
    for (const rows of removed) {
      for (const store of STORES) if (rows[store]) tx.objectStore(store).put(rows[store]);
    }
    await tx.done;
    return removed.length;
  }

  /** {count, bytes} of this account's records (no key needed). */
  async usage() {
    return usageOf(this.db, this.account);
  }
}

export async function usageOf(db, account) {
  const rows = await db.getAllFromIndex("items", "account", account);
  return { count: rows.length, bytes: rows.reduce((s, r) => s + (Number(r.bytes) || 0), 0) };
}

/** Delete every record of an account, readable or not. Resolves to the number of images. */
export async function wipeAccount(db, account) {
  const tx = db.transaction(STORES, "readwrite");
  let count = 0;
  for (const store of STORES) {
    let cursor = await tx.objectStore(store).index("account").openCursor(account);
    while (cursor) {
      if (store === "items") count += 1;
      await cursor.delete();
      cursor = await cursor.continue();
    }
  }
  await tx.done;
  return count;
}

/** Version 1's plain records of a username: [{record}] (call `forgetLegacy` once moved). */
export async function legacyRecords(db, username) {
  if (!db.objectStoreNames.contains("images")) return [];
  return db.getAllFromIndex("images", "user", String(username || "").trim().toLowerCase());
}

export async function forgetLegacy(db, ids) {
  const tx = db.transaction("images", "readwrite");
  for (const id of ids) tx.store.delete(id);
  await tx.done;
}

/**
 * Move version 1's plain records of `username` into `gallery`, encrypted, then delete the
 * plain copies. `thumbOf(png)` makes a thumbnail (or null). Resolves to the number moved.
 */
export async function migrateLegacy(gallery, username, thumbOf = async () => null) {
  const old = await legacyRecords(gallery.db, username);
  if (!old.length) return 0;
  const entries = [];
  for (const r of old) {
    const png = new Uint8Array(await r.blob.arrayBuffer());
    entries.push({
      id: String(r.id),
      created: r.created,
      meta: { prompt: r.prompt, negative_prompt: r.negative_prompt, settings: r.settings, seed: r.seed, batch: r.batch },
      png,
      thumb: await thumbOf(png),
    });
  }
  await gallery.add(entries);
  await forgetLegacy(gallery.db, old.map((r) => r.id));
  return old.length;
}
