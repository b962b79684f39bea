import "fake-indexeddb/auto";
/* global IDBObjectStore */
import assert from "node:assert/strict";
import { test } from "node:test";

import { Gallery, isQuotaError, migrateLegacy, openGalleryDb, usageOf, wipeAccount } from "../../aicreative/web/static/gallery/storage.js";
import { openDB } from "../../aicreative/web/static/vendor/idb.js";
import { payloadEntries } from "../../aicreative/web/static/gallery/view.js";
import { newKey, payload, png } from "./helpers.js";

let n = 0;
const freshDb = () => openGalleryDb(`test-${++n}`);

function entries(overrides) {
  return payloadEntries(payload(overrides)).entries;
}

function allBytes(db) {
  // Everything stored, as one string: what anyone reading the profile's files would see.
  return Promise.all(["items", "thumbs", "blobs"].map((s) => db.getAll(s))).then((rows) =>
    rows.flat().map((r) => Object.values(r).map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString("latin1") : String(v))).join("|")).join("\n"),
  );
}

test("stored records are encrypted: no prompt and no PNG signature in the database", async () => {
  const db = await freshDb();
  const gallery = new Gallery(db, { account: "acc1", kid: "k", key: await newKey() });
  assert.equal(await gallery.add(entries()), 2);
  const raw = await allBytes(db);
  assert.ok(!raw.includes("lighthouse"));
  assert.ok(!raw.includes("blurry"));
  assert.ok(!raw.includes("\x89PNG"));
  const listed = await gallery.list();
  assert.equal(listed.length, 2);
  assert.equal(listed[0].meta.prompt, "a lighthouse at dawn");
  assert.deepEqual(listed.map((r) => r.meta.seed).sort(), [11, 12]);
  assert.deepEqual(await gallery.image(listed[0].id), png());
});

test("the same payload twice is stored once (ids per batch and image)", async () => {
  const db = await freshDb();
  const gallery = new Gallery(db, { account: "acc1", kid: "k", key: await newKey() });
  assert.equal(await gallery.add(entries()), 2);
  assert.equal(await gallery.add(entries()), 0);
  assert.equal((await gallery.usage()).count, 2);
});

test("another account in the same database reads nothing of the first", async () => {
  const db = await freshDb();
  const ada = new Gallery(db, { account: "acc1", kid: "k", key: await newKey() });
  await ada.add(entries());
  const bob = new Gallery(db, { account: "acc2", kid: "k", key: await newKey() });
  assert.deepEqual(await bob.list(), []);
  const [first] = await ada.list();
  await assert.rejects(bob.image(first.id));
  // Even pointed at the first account's records, the second key opens nothing.
  const thief = new Gallery(db, { account: "acc1", kid: "k", key: await newKey() });
  const stolen = await thief.list();
  assert.equal(stolen.length, 2);
  assert.ok(stolen.every((r) => !r.readable && r.meta === null));
  await assert.rejects(thief.image(first.id));
});

test("delete, then undo, brings the same records back", async () => {
  const db = await freshDb();
  const gallery = new Gallery(db, { account: "acc1", kid: "k", key: await newKey() });
  await gallery.add(entries());
  const [first] = await gallery.list();
  const removed = await gallery.remove([first.id]);
  assert.equal(removed.length, 1);
  assert.equal((await gallery.list()).length, 1);
  await gallery.restore(removed);
  const back = await gallery.list();
  assert.equal(back.length, 2);
  assert.deepEqual(await gallery.image(first.id), png());
});

test("thumbnails are stored encrypted beside the image", async () => {
  const db = await freshDb();
  const gallery = new Gallery(db, { account: "acc1", kid: "k", key: await newKey() });
  const list = entries();
  list[0].thumb = new TextEncoder().encode("THUMBNAIL-BYTES");
  await gallery.add(list);
  assert.ok(!(await allBytes(db)).includes("THUMBNAIL-BYTES"));
  assert.equal(new TextDecoder().decode(await gallery.thumb(list[0].id)), "THUMBNAIL-BYTES");
  assert.equal(await gallery.thumb(list[1].id), null);
  await gallery.putThumb(list[1].id, Uint8Array.of(1, 2, 3));
  assert.deepEqual(await gallery.thumb(list[1].id), Uint8Array.of(1, 2, 3));
});

test("wipeAccount deletes one account's records, readable or not, and no other's", async () => {
  const db = await freshDb();
  const ada = new Gallery(db, { account: "acc1", kid: "k", key: await newKey() });
  const bob = new Gallery(db, { account: "acc2", kid: "k", key: await newKey() });
  await ada.add(entries());
  await bob.add(entries({ batch: "b2" }));
  assert.equal(await wipeAccount(db, "acc1"), 2);
  assert.deepEqual(await usageOf(db, "acc1"), { count: 0, bytes: 0 });
  assert.equal((await bob.list()).length, 2);
  assert.equal((await db.getAll("blobs")).length, 2);
});

test("a failed write stores none of its batch and loses nothing stored before", async () => {
  const db = await freshDb();
  const gallery = new Gallery(db, { account: "acc1", kid: "k", key: await newKey() });
  await gallery.add(entries());
  // A write the browser refuses mid-transaction (what a full disk does): a value IndexedDB
  // cannot clone makes the transaction abort the same way.
  const bad = entries({ batch: "b3" });
  const origPut = IDBObjectStore.prototype.put;
  let calls = 0;
  IDBObjectStore.prototype.put = function (value, ...rest) {
    calls += 1;
    if (calls === 3) throw new DOMException("full", "QuotaExceededError");
    return origPut.call(this, value, ...rest);
  };
  try {
    await assert.rejects(gallery.add(bad), (err) => isQuotaError(err));
  } finally {
    IDBObjectStore.prototype.put = origPut;
  }
  const listed = await gallery.list();
  assert.equal(listed.length, 2);
  assert.ok(listed.every((r) => r.meta.batch === "b1"));
});

test("version 1's plain records of the signed-in user move in encrypted; others stay", async () => {
  const name = `legacy-${++n}`;
  // The layout gallery.js (version 1) left behind: plain PNG blobs and prompts by username.
  const v1 = await openDB(name, 1, {
    upgrade(db) {
      db.createObjectStore("images", { keyPath: "id" }).createIndex("user", "user");
    },
  });
  const blob = new Blob([png()], { type: "image/png" });
  await v1.put("images", { id: "old-1", user: "ada", batch: "b", created: "2026-01-01T00:00:00Z", prompt: "old ada prompt", negative_prompt: "", seed: 5, settings: { steps: 1 }, blob, bytes: blob.size });
  await v1.put("images", { id: "old-2", user: "bob", batch: "c", created: "2026-01-01T00:00:00Z", prompt: "old bob prompt", negative_prompt: "", seed: 6, settings: {}, blob, bytes: blob.size });
  v1.close();
  const db = await openGalleryDb(name);
  const gallery = new Gallery(db, { account: "acc-ada", kid: "k", key: await newKey() });
  assert.equal(await migrateLegacy(gallery, "Ada"), 1);
  const [moved] = await gallery.list();
  assert.equal(moved.meta.prompt, "old ada prompt");
  assert.deepEqual(await gallery.image("old-1"), png());
  assert.deepEqual((await db.getAll("images")).map((r) => r.user), ["bob"]);
  assert.equal(await migrateLegacy(gallery, "ada"), 0);
});
