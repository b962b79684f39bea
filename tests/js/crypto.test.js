import assert from "node:assert/strict";
import { test } from "node:test";

import {
  aad,
  decrypt,
  decryptJson,
  encrypt,
  encryptJson,
  fetchGalleryKey,
  fromBase64Url,
  importKey,
} from "../../aicreative/web/static/gallery/crypto.js";
import { newKey } from "./helpers.js";

test("a sealed value opens with its key and its binding only", async () => {
  const key = await newKey();
  const other = await newKey();
  const sealed = await encrypt(key, new TextEncoder().encode("secret prompt"), aad("acc1", "id1", "meta"));
  assert.ok(!new TextDecoder().decode(sealed).includes("secret prompt"));
  const opened = await decrypt(key, sealed, aad("acc1", "id1", "meta"));
  assert.equal(new TextDecoder().decode(opened), "secret prompt");
  await assert.rejects(decrypt(other, sealed, aad("acc1", "id1", "meta")));
  await assert.rejects(decrypt(key, sealed, aad("acc2", "id1", "meta")), "another account");
  await assert.rejects(decrypt(key, sealed, aad("acc1", "id2", "meta")), "another record");
});

test("two seals of the same value differ (a fresh IV each time)", async () => {
  const key = await newKey();
  const a = await encryptJson(key, { p: 1 }, aad("a", "b", "c"));
  const b = await encryptJson(key, { p: 1 }, aad("a", "b", "c"));
  assert.notDeepEqual(a, b);
  assert.deepEqual(await decryptJson(key, b, aad("a", "b", "c")), { p: 1 });
});

test("the imported key cannot be exported", async () => {
  const key = await importKey(new Uint8Array(32).fill(7));
  assert.equal(key.extractable, false);
  await assert.rejects(crypto.subtle.exportKey("raw", key));
  await assert.rejects(importKey(new Uint8Array(16)), /wrong length/);
});

test("fetchGalleryKey asks this site, uncached, and reads the server's answer", async () => {
  const calls = [];
  const raw = Buffer.from(new Uint8Array(32).fill(1)).toString("base64url");
  const fake = async (url, init) => {
    calls.push([url, init]);
    return { ok: true, json: async () => ({ account: "acc1", kid: "k1", key: raw }) };
  };
  const access = await fetchGalleryKey(fake);
  assert.equal(access.account, "acc1");
  assert.equal(access.kid, "k1");
  assert.equal(calls[0][0], "/gallery-key");
  assert.equal(calls[0][1].cache, "no-store");
  assert.equal(await fetchGalleryKey(async () => ({ ok: false })), null);
  assert.deepEqual(fromBase64Url(raw), new Uint8Array(32).fill(1));
});
