import assert from "node:assert/strict";
import { test } from "node:test";

import {
  PAGE_SIZE,
  filterRecords,
  firstPages,
  formValues,
  neighbour,
  payloadEntries,
  storageStatus,
} from "../../aicreative/web/static/gallery/view.js";
import { payload, png } from "./helpers.js";

const recs = [
  { id: "a", meta: { prompt: "Red fox in snow", negative_prompt: "" } },
  { id: "b", meta: { prompt: "blue sea", negative_prompt: "fox" } },
  { id: "c", meta: { prompt: "green hill", negative_prompt: "" } },
];

test("search matches every word in prompt or negative prompt, any case", () => {
  assert.deepEqual(filterRecords(recs, "FOX").map((r) => r.id), ["a", "b"]);
  assert.deepEqual(filterRecords(recs, "fox snow").map((r) => r.id), ["a"]);
  assert.equal(filterRecords(recs, "  ").length, 3);
});

test("previous/next wrap around", () => {
  assert.equal(neighbour(recs, "a", 1), "b");
  assert.equal(neighbour(recs, "a", -1), "c");
  assert.equal(neighbour(recs, "c", 1), "a");
  assert.equal(neighbour([], "a", 1), null);
});

test("paging shows whole pages", () => {
  const many = Array.from({ length: 150 }, (_, i) => ({ id: String(i) }));
  assert.equal(firstPages(many, 1).length, PAGE_SIZE);
  assert.equal(firstPages(many, 3).length, 150);
});

test("'Use these settings' values", () => {
  const [entry] = payloadEntries(payload()).entries;
  assert.deepEqual(formValues(entry.meta), {
    prompt: "a lighthouse at dawn",
    negative: "blurry",
    size: "512x512",
    steps: 2,
    guidance: 0,
    seed: 11,
  });
});

test("a payload becomes one entry per image with stable ids", () => {
  const parsed = payloadEntries(payload());
  assert.equal(parsed.delivery, "d1");
  assert.deepEqual(parsed.entries.map((e) => e.id), ["b1-0", "b1-1"]);
  assert.deepEqual(parsed.entries[0].png, png());
  assert.equal(payloadEntries(JSON.stringify(payload())).entries.length, 2);
  assert.equal(payloadEntries(null), null);
  assert.equal(payloadEntries({ kind: "other", images: [] }), null);
  assert.equal(payloadEntries(payload({ images: [{ seed: 1, data_url: "javascript:alert(1)" }] })), null);
});

test("storage line: space used of the quota, eviction, warning before full", () => {
  const ok = storageStatus({ usage: 10 * 2 ** 20, quota: 100 * 2 ** 20 }, true, 5 * 2 ** 20);
  assert.match(ok.text, /5\.0 MB/);
  assert.match(ok.text, /of the 100\.0 MB this browser allows/);
  assert.match(ok.text, /will not evict/);
  assert.equal(ok.warn, "");
  const full = storageStatus({ usage: 90, quota: 100 }, false, 80);
  assert.match(full.text, /may evict/);
  assert.match(full.warn, /90% full/);
});
