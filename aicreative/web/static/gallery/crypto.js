/**
 * The gallery's encryption (issue 12, "encrypted at rest, per account").
 *
 * Owns the key's life in the page and AES-GCM through WebCrypto; no cipher is written
 * here. The key comes from the server (GET /gallery-key, this account's session only),
 * is imported as a non-extractable CryptoKey and lives in page memory only: never in
 * IndexedDB, localStorage, a cookie or the DOM. Every ciphertext is bound to its
 * account, record and field through AES-GCM's additional data, so a record cannot be
 * swapped into another account's or another record's place.
 */

const IV_BYTES = 12;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** base64url (no padding) -> bytes. */
export function fromBase64Url(text) {
  const b64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** The raw key from the server -> a non-extractable AES-GCM CryptoKey. */
export async function importKey(raw) {
  const bytes = typeof raw === "string" ? fromBase64Url(raw) : raw;
  if (bytes.length !== 32) throw new Error("The gallery key has the wrong length.");
  const key = await crypto.subtle.importKey("raw", bytes, { name: "AES-GCM" }, false, [
    "encrypt",
    "decrypt",
  ]);
  bytes.fill(0); // the only copy of the raw key this page made
  return key;
}

/** Additional data: which account, record and field a ciphertext belongs to. */
export function aad(account, id, field) {
  return encoder.encode(`aicreative/1|${account}|${id}|${field}`);
}

/** bytes -> iv || AES-GCM(bytes), bound to `ad`. */
export async function encrypt(key, bytes, ad) {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: ad }, key, bytes);
  const out = new Uint8Array(IV_BYTES + sealed.byteLength);
  out.set(iv, 0);
  out.set(new Uint8Array(sealed), IV_BYTES);
  return out;
}

/** iv || ciphertext -> bytes; throws (OperationError) under another key or another `ad`. */
export async function decrypt(key, sealed, ad) {
  const data = sealed instanceof Uint8Array ? sealed : new Uint8Array(sealed);
  const iv = data.subarray(0, IV_BYTES);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv, additionalData: ad },
    key,
    data.subarray(IV_BYTES),
  );
  return new Uint8Array(plain);
}

export async function encryptJson(key, value, ad) {
  return encrypt(key, encoder.encode(JSON.stringify(value)), ad);
}

export async function decryptJson(key, sealed, ad) {
  return JSON.parse(decoder.decode(await decrypt(key, sealed, ad)));
}

/**
 * Ask the server for this session's gallery key.
 * Resolves to {account, kid, key: CryptoKey}, or null when not logged in.
 */
export async function fetchGalleryKey(fetchImpl = globalThis.fetch) {
  const response = await fetchImpl("/gallery-key", {
    credentials: "same-origin",
    cache: "no-store",
    headers: { accept: "application/json" },
  });
  if (!response.ok) return null;
  const body = await response.json();
  if (!body || typeof body.account !== "string" || typeof body.key !== "string") return null;
  return { account: body.account, kid: String(body.kid || ""), key: await importKey(body.key) };
}
