import assert from "node:assert/strict";
import { test } from "node:test";

import {
  buildExport,
  fileName,
  isPng,
  parametersText,
  parseExport,
  stamp,
  textChunks,
  withTextChunk,
} from "../../aicreative/web/static/gallery/zip.js";
import { unzipSync } from "../../aicreative/web/static/vendor/fflate.js";
import { png } from "./helpers.js";

const record = (id, seed, prompt = "a cat") => ({
  id,
  created: "2026-12-01T08:15:30Z",
  meta: { prompt, negative_prompt: "dog", settings: { width: 512, height: 512, steps: 4, guidance: 1.5, backend: "demo" }, seed, batch: "b" },
  png: png(),
});

test("file names carry date and seed and do not collide", () => {
  assert.equal(stamp("2026-12-01T08:15:30Z"), "20261201-081530");
  assert.equal(fileName(record("abcd-1234-ef", 42)), "aicreative-20261201-081530-seed42-abcd1234.png");
  const zip = unzipSync(buildExport([record("same-id", 1), record("same-id", 1)]));
  assert.equal(Object.keys(zip).filter((n) => n.endsWith(".png")).length, 2);
});

test("export -> import gives the same images, prompts, settings and ids", () => {
  const records = [record("id-1", 1, "first"), record("id-2", 2, "second")];
  const zip = buildExport(records);
  const files = unzipSync(zip);
  const pngs = Object.keys(files).filter((n) => n.endsWith(".png"));
  assert.equal(pngs.length, 2);
  assert.ok(pngs.every((n) => isPng(files[n])), "plain PNG files");
  const back = parseExport(zip);
  assert.deepEqual(
    back.map((r) => [r.id, r.meta.prompt, r.meta.seed, r.meta.settings.steps]),
    [["id-1", "first", 1, 4], ["id-2", "second", 2, 4]],
  );
  assert.deepEqual(back[0].png, png());
});

test("import refuses what is not an export, with a message", () => {
  assert.throws(() => parseExport(new Uint8Array([1, 2, 3])), /not a zip/);
  assert.throws(() => parseExport(buildExport([]).slice(0, 10)), /not a zip/);
});

test("the settings go into a PNG tEXt chunk named parameters, readable back", () => {
  const r = record("id-1", 77);
  const text = parametersText(r);
  assert.equal(text, "a cat\nNegative prompt: dog\nSteps: 4, CFG scale: 1.5, Seed: 77, Size: 512x512, Model: demo");
  const out = withTextChunk(r.png, "parameters", text);
  assert.ok(isPng(out));
  assert.equal(textChunks(out).parameters, text);
  assert.deepEqual(textChunks(r.png), {});
});
