"""Gallery at size (issue 12, item 6): open time, encrypt+store and decrypt+show, bytes.

Runs the real app (``create_app``, demo backend, in-memory store) on a free 127.0.0.1
port and Debian's Chromium headless with a profile folder on disk (IndexedDB as a user
has it). It fills the gallery of one account through the page's own modules (thumbnail
made in the browser, AES-GCM, one transaction per 50 images) up to each size, then:

* open: from the click on the Gallery tab until the first thumbnail is drawn
  (target: under 1 s at 2,000 images), and the part of it spent listing and
  decrypting every record's metadata;
* encrypt+store per image (thumbnail apart), against a plain ``put`` of the same PNG
  bytes (the baseline, same run);
* decrypt+show per image (read, decrypt, decode in an ``<img>``);
* bytes: the gallery's own records and the origin's usage as the browser counts it.

    .venv/bin/python benchmarks/bench_gallery.py            # 100 / 1,000 / 2,000
    .venv/bin/python benchmarks/bench_gallery.py --quick    # 50 / 200
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aicreative import Studio  # noqa: E402
from aicreative.backends.base import GenerationRequest  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

FILL_JS = """async ([pngs, from, to]) => {
  const { Gallery, openGalleryDb } = await import('/ac-static/gallery/storage.js');
  const { fetchGalleryKey } = await import('/ac-static/gallery/crypto.js');
  const { makeThumb } = await import('/ac-static/gallery/view.js');
  const g = new Gallery(await openGalleryDb(), await fetchGalleryKey());
  const bytes = pngs.map((b) => Uint8Array.from(atob(b), (c) => c.charCodeAt(0)));
  let thumbMs = 0, storeMs = 0;
  for (let i = from; i < to; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(to, i + 50); j++) {
      const png = bytes[j % bytes.length];
      const t = performance.now();
      const thumb = await makeThumb(png);
      thumbMs += performance.now() - t;
      batch.push({ id: `bench-${j}`, created: new Date(Date.UTC(2026, 0, 1, 0, 0, j)).toISOString(),
        meta: { prompt: `benchmark prompt number ${j}`, negative_prompt: '', seed: j,
                settings: { width: 512, height: 512, steps: 1, guidance: 0, backend: 'demo' } },
        png, thumb });
    }
    const t = performance.now();
    await g.add(batch);
    storeMs += performance.now() - t;
  }
  return { thumbMs, storeMs };
}"""

PLAIN_JS = """async ([pngs, n]) => {
  const { openDB } = await import('/ac-static/vendor/idb.js');
  const db = await openDB('bench-plain', 1, { upgrade(d) { d.createObjectStore('s'); } });
  const png = Uint8Array.from(atob(pngs[0]), (c) => c.charCodeAt(0));
  const t = performance.now();
  for (let i = 0; i < n; i += 50) {
    const tx = db.transaction('s', 'readwrite');
    for (let j = i; j < Math.min(n, i + 50); j++) tx.store.put(png, j);
    await tx.done;
  }
  const ms = performance.now() - t;
  await db.clear('s');
  db.close();
  return ms;
}"""

SHOW_JS = """async (n) => {
  const { Gallery, openGalleryDb } = await import('/ac-static/gallery/storage.js');
  const { fetchGalleryKey } = await import('/ac-static/gallery/crypto.js');
  const g = new Gallery(await openGalleryDb(), await fetchGalleryKey());
  const t0 = performance.now();
  const list = await g.list();
  const listMs = performance.now() - t0;
  const img = new Image();
  const t = performance.now();
  for (const r of list.slice(0, n)) {
    const url = URL.createObjectURL(new Blob([await g.image(r.id)], { type: 'image/png' }));
    img.src = url;
    await img.decode();
    URL.revokeObjectURL(url);
  }
  const showMs = (performance.now() - t) / Math.min(n, list.length);
  const usage = await g.usage();
  const estimate = await navigator.storage.estimate();
  return { listMs, showMs, bytes: usage.bytes, count: usage.count, origin: estimate.usage };
}"""

OPEN_JS = """async () => {
  const t = performance.now();
  [...document.querySelectorAll('button[role=tab]')].find((b) => b.textContent.trim() === 'Gallery').click();
  for (;;) {
    const img = document.querySelector('.ac-gal-item img');
    if (img && img.complete && img.naturalWidth > 0) return performance.now() - t;
    await new Promise((r) => requestAnimationFrame(r));
  }
}"""


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000", help="gallery sizes to measure")
    parser.add_argument("--quick", action="store_true", help="sizes 50,200 (smoke run)")
    parser.add_argument("--show", type=int, default=30, help="images to decrypt+show")
    args = parser.parse_args()
    sizes = [50, 200] if args.quick else [int(s) for s in args.sizes.split(",")]

    import uvicorn
    from playwright.sync_api import sync_playwright

    from aicreative.web.app import create_app
    from aicreative.web.security import COOKIE_NAME

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    studio = Studio.local(signup_credits=100)
    studio.signup("bench", "bench@example.org", "correct horse battery")
    result = studio.generate("bench", GenerationRequest("a benchmark", num_images=4))
    pngs = [base64.b64encode(p).decode() for p in result.png]
    token = studio.login("bench", "correct horse battery")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(studio), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    print(f"CPU: {cpu_name()} · {os.cpu_count()} cores · load {os.getloadavg()[0]:.2f}")
    print(
        f"PNG per image: {statistics.mean(len(p) for p in result.png) / 1024:.0f} KB (demo, 512x512)"
    )
    rows = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, headless=True
        )
        context.add_cookies([{"name": COOKIE_NAME, "value": token, "url": url}])
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(120_000)
        page.goto(url + "/")
        page.wait_for_function("() => window.AICreative && AICreative.ready().then((g) => !!g)")
        plain_ms = page.evaluate(PLAIN_JS, [pngs, 200]) / 200
        filled = 0
        for size in sizes:
            fill = page.evaluate(FILL_JS, [pngs, filled, size])
            added = size - filled
            filled = size
            opens = []
            for _ in range(3):
                page.reload()
                page.wait_for_function(
                    "() => window.AICreative && AICreative.ready().then((g) => !!g)"
                )
                opens.append(page.evaluate(OPEN_JS))
            show = page.evaluate(SHOW_JS, args.show)
            rows.append((size, statistics.median(opens), show, fill, added))
        context.close()
    server.should_exit = True
    print(f"plain put of the same PNG (baseline): {plain_ms:.2f} ms/image")
    print(
        "images | open (first thumbnail) | list+decrypt metadata | encrypt+store /image "
        "(x plain) | thumbnail /image | decrypt+show /image | gallery bytes | origin usage"
    )
    base = rows[0][1]
    for size, open_ms, show, fill, added in rows:
        store = fill["storeMs"] / added
        print(
            f"{size:6d} | {open_ms:7.0f} ms ({open_ms / base:4.2f}x of {sizes[0]}) | "
            f"{show['listMs']:6.0f} ms | {store:6.2f} ms ({store / plain_ms:4.1f}x) | "
            f"{fill['thumbMs'] / added:6.2f} ms | {show['showMs']:6.2f} ms | "
            f"{show['bytes'] / 2**20:7.1f} MB | {show['origin'] / 2**20:7.1f} MB"
        )
    print(f"load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
