// Shared bits of the gallery's Node tests: a real 1x1 PNG and a fresh key.
import { importKey } from "../../aicreative/web/static/gallery/crypto.js";

export const PNG_B64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
export const png = () => Uint8Array.from(atob(PNG_B64), (c) => c.charCodeAt(0));
export const dataUrl = `data:image/png;base64,${PNG_B64}`;

export async function newKey() {
  return importKey(crypto.getRandomValues(new Uint8Array(32)));
}

export function payload(overrides = {}) {
  return {
    kind: "generation",
    user: "ada",
    batch: "b1",
    created: "2026-12-01T08:00:00Z",
    prompt: "a lighthouse at dawn",
    negative_prompt: "blurry",
    settings: { width: 512, height: 512, steps: 2, guidance: 0, num_images: 2, backend: "demo" },
    images: [
      { seed: 11, data_url: dataUrl },
      { seed: 12, data_url: dataUrl },
    ],
    balance: 8,
    delivery: "d1",
    ...overrides,
  };
}
