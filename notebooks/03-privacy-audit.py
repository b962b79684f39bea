# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Privacy audit: what reaches the server's disk
#
# The privacy policy promises that the server stores only the account (username,
# email, password hash, credits, role and their bookkeeping) and that **prompts
# and images never touch the server's disk or logs**. This notebook checks it
# against the real server:
#
# 1. start the real web app from this notebook, on a temp data folder, with
#    Gradio's cache pointed at a temp folder and every log record captured;
# 2. sign up and generate **through HTTP**, like a browser, with a unique
#    marker prompt;
# 3. show that the account file holds only the whitelisted fields;
# 4. scan the data folder, Gradio's cache, the server's working folder and the
#    logs for the marker and for PNG, JPEG and WebP data.
#
# Each check is an `assert`, so this notebook fails in CI if it regresses.

# %%
# This notebook writes nothing outside temp folders. To show it, note what
# the working folder holds now and compare at the end. (Jupyter's own
# autosaves of notebooks and checkpoints are left out of the comparison.)
from pathlib import Path


def snapshot(folder: Path) -> dict[str, int]:
    return {
        str(path.relative_to(folder)): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in path.parts
    }


START_FOLDER = Path.cwd()
BEFORE = snapshot(START_FOLDER)
print(f"working folder: {START_FOLDER} ({len(BEFORE)} files besides notebooks)")

# %% [markdown]
# ## Temp folders and captured logs
#
# Gradio reads `GRADIO_TEMP_DIR` when it is imported, so this cell runs before
# anything imports the web app (restart the kernel if you ran other cells first).
# The server's working folder is a temp folder too, so that anything it might
# write relative to it (`.gradio/`, `./data`) would be found.

# %%
import io
import logging
import os
import secrets
import sys
import tempfile
import uuid

assert "gradio" not in sys.modules, "restart the kernel: Gradio must see GRADIO_TEMP_DIR at import"
TMP = tempfile.TemporaryDirectory(prefix="aicreative-audit-")
ROOT = Path(TMP.name)
DATA_DIR = ROOT / "data"
GRADIO_DIR = ROOT / "gradio-cache"
SERVER_CWD = ROOT / "cwd"
SERVER_CWD.mkdir()
os.environ["GRADIO_TEMP_DIR"] = str(GRADIO_DIR)
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.chdir(SERVER_CWD)

# Every log record of every library, at every level, into memory.
LOG = io.StringIO()
log_handler = logging.StreamHandler(LOG)
log_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
root_logger = logging.getLogger()
saved_level = root_logger.level
root_logger.addHandler(log_handler)
root_logger.setLevel(logging.DEBUG)

# The marker: a prompt that appears nowhere else (not even in this notebook).
MARKER = f"privacy-audit-{uuid.uuid4().hex}"
NEGATIVE_MARKER = f"negative-audit-{uuid.uuid4().hex}"
print("marker prompt:", MARKER)

# %% [markdown]
# ## Start the real server
#
# `show(settings=...)` builds the Studio from settings (account file in the data
# folder, demo backend) and serves the same app as `python app.py`, on
# 127.0.0.1 and a free port, in a thread of this kernel.

# %%
from aicreative import Settings
from aicreative.store import FIELDS
from aicreative.web.notebook import show

settings = Settings(
    data_dir=DATA_DIR,
    backend="demo",
    secret_key=secrets.token_urlsafe(32),
    signup_credits=10,
    confirm_email=False,  # a demo: no mail server to confirm addresses with
)
inline = show(settings=settings)
BASE = inline.url.rstrip("/")
print(inline)

# %% [markdown]
# ## Sign up through HTTP
#
# Like a browser: fetch the form, take its CSRF token, post it back with the
# `Origin` header a browser sends. The answer is a redirect to the app with
# the session cookie.

# %%
import re

import httpx

client = httpx.Client(base_url=BASE, trust_env=False, timeout=30)
form = client.get("/signup")
csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
password = "correct horse battery"
answer = client.post(
    "/signup",
    data={
        "csrf_token": csrf,
        "username": "auditor",
        "email": "auditor@example.org",
        "password": password,
        "password2": password,
    },
    headers={"Origin": BASE},
)
assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text[:300]
assert "aicreative_session" in client.cookies
print("signed up; cookie:", answer.headers["set-cookie"].split(";", 1)[0][:40] + "...")
print(
    "cookie flags:", "; ".join(part.strip() for part in answer.headers["set-cookie"].split(";")[1:])
)

# %% [markdown]
# ## Generate through the app's API
#
# The UI's Generate button is the Gradio endpoint `generate`: a POST starts the
# job, and a GET streams the result as server-sent events. The images come back
# inside the response (a base64 data URL), for the browser to keep in its own
# gallery.

# %%
import base64
import html
import json

# prompt, negative prompt, size, steps, guidance, seed, random seed?, images
inputs = [MARKER, NEGATIVE_MARKER, "256x256", 1, 0, 42, False, 2]
job = client.post("/gradio_api/call/generate", json={"data": inputs})
assert job.status_code == 200, job.text
stream = client.get(f"/gradio_api/call/generate/{job.json()['event_id']}")
events = [
    line.removeprefix("event: ") for line in stream.text.splitlines() if line.startswith("event:")
]
assert events[-1] == "complete", stream.text[:500]
payload, status, _header = json.loads(
    [line for line in stream.text.splitlines() if line.startswith("data:")][-1].removeprefix(
        "data:"
    )
)
assert payload["prompt"] == MARKER
pngs = [base64.b64decode(image["data_url"].split(",", 1)[1]) for image in payload["images"]]
assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
print(html.unescape(re.sub("<[^>]+>", "", status)))
print("seeds:", [image["seed"] for image in payload["images"]], "balance:", payload["balance"])

# %%
# The same request through the Python API gives the same bytes: the server
# made the image from the prompt and the seed, and kept nothing.
from IPython.display import Image, display

from aicreative import GenerationRequest
from aicreative.backends.demo import DemoBackend
from aicreative.images import encode_png

local = DemoBackend().generate(
    GenerationRequest(MARKER, NEGATIVE_MARKER, width=256, height=256, seed=42, num_images=2)
)
assert [encode_png(image) for image in local] == pngs
display(*(Image(data=png, width=160) for png in pngs))

# %% [markdown]
# ## What the store holds
#
# The account file is TinyDB JSON. Every record may hold only the fields of the
# store's whitelist (`aicreative.store.FIELDS`); the store refuses any other.

# %%
raw = settings.store_path.read_text(encoding="utf-8")
records = list(json.loads(raw)["accounts"].values())
print("whitelist:", ", ".join(FIELDS))
for record in records:
    assert set(record) <= set(FIELDS), set(record) - set(FIELDS)
    shown = {**record, "password_hash": record["password_hash"][:20] + "..."}
    print(json.dumps(shown, indent=1))
assert [r["username"] for r in records] == ["auditor"] and records[0]["credits"] == 8
assert MARKER not in raw and NEGATIVE_MARKER not in raw
assert inline.studio.store.raw_records() == records

# %% [markdown]
# ## No prompt and no image on disk, nor in the logs
#
# Every file under the data folder, Gradio's cache and the server's working
# folder is read and searched for the two markers (in its bytes and its name),
# for PNG, JPEG and WebP signatures, and for the base64 start of a PNG (a data
# URL written to a file). The captured log is searched for the markers.

# %%
SIGNATURES = {
    "PNG": b"\x89PNG\r\n\x1a\n",
    "PNG as base64": b"iVBORw0KGgo",
    "JPEG": b"\xff\xd8\xff",
}
markers = [MARKER.encode(), NEGATIVE_MARKER.encode()]


def scan(folder: Path) -> tuple[list[str], int]:
    """(findings, files read) for every file under `folder`."""
    findings, count = [], 0
    for path in sorted(folder.rglob("*")):
        if any(m.decode() in path.name for m in markers):
            findings.append(f"{path}: marker in the file name")
        if not path.is_file():
            continue
        count += 1
        data = path.read_bytes()
        findings += [f"{path}: marker" for m in markers if m in data]
        findings += [
            f"{path}: {kind}" for kind, sig in SIGNATURES.items() if kind != "JPEG" and sig in data
        ]
        if data.startswith(SIGNATURES["JPEG"]) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            findings.append(f"{path}: JPEG or WebP file")
    return findings, count


for place in (DATA_DIR, GRADIO_DIR, SERVER_CWD):
    findings, count = scan(place)
    print(f"{place.name:<13} {count} file(s): {sorted(p.name for p in place.rglob('*'))}")
    assert not findings, findings

log_text = LOG.getvalue()
assert log_text, "the log capture works"
assert MARKER not in log_text and NEGATIVE_MARKER not in log_text
print(f"log: {len(log_text.splitlines())} records captured, no marker")

# %% [markdown]
# ## Stop the server and clean up

# %%
client.close()
inline.stop()
assert not inline.running
with httpx.Client(trust_env=False) as probe:
    try:
        probe.get(BASE + "/healthz", timeout=2)
        raise AssertionError("the server still answers")
    except httpx.TransportError:
        print("server stopped; port", inline.port, "is closed")

root_logger.removeHandler(log_handler)
root_logger.setLevel(saved_level)
os.chdir(START_FOLDER)
TMP.cleanup()

# %%
# Nothing new or changed in the working folder (no ./data, no .gradio,
# no image files): everything this notebook wrote went to temp folders.
after = snapshot(START_FOLDER)
assert after == BEFORE, sorted(set(after.items()) ^ set(BEFORE.items()))
print("nothing written to", START_FOLDER)
