# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The same request on each backend
#
# AI Creative turns a `GenerationRequest` into images through a *backend*:
#
# | backend | what it is | needs |
# |---|---|---|
# | `demo` | deterministic pictures, not an AI model | nothing |
# | `diffusers` | real text-to-image models (sd-turbo by default) | `pip install .[diffusers]` |
# | `openvino` | the same models, faster on a CPU | `pip install .[openvino]` |
# | `remote` | Hugging Face's inference service | a token, network |
#
# This notebook runs one request on each backend that can run here, times each
# stage (load, generate, encode to PNG) and plots the times. The diffusers
# backend runs on a **tiny, randomly initialised** pipeline built right here
# (the one the tests use): no download, seconds on a CPU, and pictures of noise.
# It exercises the real loading and generation code; for real pictures point
# the backend at a real model (see the end).
#
# Backends whose packages are missing are skipped with a message.

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

# %%
import importlib.util
import os
import sys
import tempfile
import time
import warnings

# Everything this notebook builds or caches goes into this temp folder.
TMP = tempfile.TemporaryDirectory(prefix="aicreative-backends-")
WORK = Path(TMP.name)
# Offline on purpose: a model that is not on disk fails at once instead of
# downloading (read by huggingface_hub when it is imported).
os.environ["HF_HUB_OFFLINE"] = "1"
# Quiet model libraries: errors only, no progress bars in the outputs.
os.environ["TRANSFORMERS_VERBOSITY"] = "error"
os.environ["DIFFUSERS_VERBOSITY"] = "error"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
# tqdm asks for ipywidgets inside Jupyter; plain progress is fine.
warnings.filterwarnings("ignore", message="IProgress not found")
# Importing the tiny-pipeline builder from tests/ should not leave bytecode.
sys.dont_write_bytecode = True

from aicreative import GenerationRequest, Settings, Studio
from aicreative.backends import BackendUnavailable, load_backend
from aicreative.images import data_url, encode_png

# One request for every backend: 256x256 (the smallest size), one step.
request = GenerationRequest("a red fox in fresh snow", width=256, height=256, steps=1, seed=7)
timings: dict[str, dict[str, float]] = {}
outputs: dict[str, list[bytes]] = {}


# %%
def run(label: str, name: str, settings: Settings):
    """Load backend `name`, generate `request`, encode the PNGs; time each stage."""
    started = time.perf_counter()
    backend = load_backend(name, settings)
    loaded = time.perf_counter()
    images = backend.generate(request)
    generated = time.perf_counter()
    pngs = [encode_png(image) for image in images]
    encoded = time.perf_counter()
    timings[label] = {
        "load": loaded - started,
        "generate": generated - loaded,
        "encode": encoded - generated,
    }
    outputs[label] = pngs
    stages = ", ".join(
        f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in timings[label].items()
    )
    print(f"{label:<22} {backend.label}\n{'':<22} {stages}")
    return backend


# %% [markdown]
# ## demo
#
# Always available.

# %%
demo = run("demo", "demo", Settings(backend="demo", data_dir=WORK / "data"))

# %% [markdown]
# ## diffusers, on a tiny pipeline built here
#
# `tests/tiny_pipeline.py` builds a Stable Diffusion pipeline with sd-turbo's
# structure (CLIP text encoder, UNet, VAE, Euler scheduler) but a few hundred
# kilobytes of random weights, and saves it with `save_pretrained`. The backend
# then loads it with the same `from_pretrained` call it uses for a real model:
# `Settings(model_id=...)` takes a hub id or a local folder.
#
# `device="cpu"` keeps the timings comparable; the default `auto` picks CUDA,
# then Apple MPS, then the CPU. `tiny_autoencoder="off"` decodes with the
# pipeline's own VAE (the default `auto` uses the tiny autoencoder on a CPU).

# %%
HAVE_DIFFUSERS = all(importlib.util.find_spec(m) for m in ("torch", "diffusers", "transformers"))
if HAVE_DIFFUSERS:
    import aicreative

    # The builder lives in the repository's tests/ folder: put the repository
    # root on the path (found from the package, or next to this notebook).
    repo = Path(aicreative.__file__).resolve().parents[1]
    if not (repo / "tests" / "tiny_pipeline.py").exists():
        repo = Path.cwd().parent
    sys.path.insert(0, str(repo))
    from diffusers.utils import logging as diffusers_logging

    from tests.tiny_pipeline import build_tiny_pipeline, build_tiny_taesd

    diffusers_logging.disable_progress_bar()
    started = time.perf_counter()
    pipeline_dir = build_tiny_pipeline(WORK / "tiny-sd")
    taesd_dir = build_tiny_taesd(WORK / "tiny-taesd")
    print(f"built a tiny pipeline and TAESD in {time.perf_counter() - started:.1f} s")
else:
    print("skipped: diffusers is not installed (pip install .[diffusers])")

# %%
if HAVE_DIFFUSERS:
    tiny_settings = Settings(
        backend="diffusers",
        model_id=str(pipeline_dir),
        tiny_autoencoder="off",
        device="cpu",
        data_dir=WORK / "data",
    )
    tiny = run("diffusers", "diffusers", tiny_settings)

# %% [markdown]
# ### With the tiny autoencoder (TAESD)
#
# On a CPU most of sd-turbo's time goes into the VAE decoder; TAESD
# (`AutoencoderTiny`) decodes in a fraction of it (for the full-size model on a
# 2-core CPU: ~24 s down to ~2 s). Turn it on with `tiny_autoencoder="on"` and
# name it with `taesd_id` (a hub id such as `madebyollin/taesd`, or a folder);
# here it is the tiny TAESD built above.

# %%
if HAVE_DIFFUSERS:
    taesd_settings = tiny_settings.replace(tiny_autoencoder="on", taesd_id=str(taesd_dir))
    with_taesd = run("diffusers + TAESD", "diffusers", taesd_settings)
    assert with_taesd.uses_tiny_autoencoder and not tiny.uses_tiny_autoencoder

# %% [markdown]
# ## openvino and remote
#
# The OpenVINO backend converts the configured diffusers model once into a model
# cache in the data folder (here: a temp folder). It runs only where its package
# and backend module are installed. The remote backend needs network access and
# a Hugging Face token, so this notebook only shows how to configure it.

# %%
if not HAVE_DIFFUSERS or importlib.util.find_spec("openvino") is None:
    print("skipped openvino: needs pip install .[openvino] and the diffusers extra")
else:
    try:
        run("openvino", "openvino", tiny_settings.replace(backend="openvino"))
    except BackendUnavailable as exc:
        print("skipped openvino:", exc)

print(
    "skipped remote: needs network access. Configure it with\n"
    '  Settings(backend="remote", model_id="stabilityai/sd-turbo", hf_token="hf_...")\n'
    '  or endpoint_url="https://....endpoints.huggingface.cloud" for a dedicated endpoint\n'
    "  (AICREATIVE_BACKEND=remote, AICREATIVE_HF_TOKEN or HF_TOKEN, AICREATIVE_ENDPOINT_URL)."
)

# %% [markdown]
# ## Timings per stage
#
# Load happens once per server; generate and encode happen for every request.

# %%
print(f"{'backend':<22}{'load':>10}{'generate':>10}{'encode':>10}   (ms)")
for label, stages in timings.items():
    print(
        f"{label:<22}"
        + "".join(f"{stages[s] * 1000:>10.0f}" for s in ("load", "generate", "encode"))
    )

# %%
# A plot drawn inline (matplotlib's Agg renderer into the cell output; no file).
# %matplotlib inline
import matplotlib.pyplot as plt

labels = list(timings)
fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(labels)))
left = [0.0] * len(labels)
for stage, colour in (("load", "#8e9aaf"), ("generate", "#6c4ab6"), ("encode", "#f2a65a")):
    widths = [timings[label][stage] * 1000 for label in labels]
    ax.barh(labels, widths, left=left, color=colour, label=stage)
    left = [a + b for a, b in zip(left, widths, strict=True)]
ax.set_xlabel("milliseconds")
ax.invert_yaxis()
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
ax.set_title(f"{request.width}x{request.height}, {request.steps} step(s), seed {request.seed}")
fig.tight_layout()
plt.show()
plt.close(fig)

# %%
# What each backend made (the tiny pipeline's random weights paint noise).
from IPython.display import HTML

HTML(
    "".join(
        f'<figure style="display:inline-block;margin:4px"><img src="{data_url(pngs[0])}" width="128">'
        f"<figcaption>{label}</figcaption></figure>"
        for label, pngs in outputs.items()
    )
)

# %% [markdown]
# ## A backend in a Studio; seeds reproduce
#
# Any backend can serve a Studio, which adds accounts and credits around it.
# Each image gets its own seeded generator, so the same request and seed give
# the same pixels again: the Studio's PNG bytes equal those made above.

# %%
label = "diffusers + TAESD" if HAVE_DIFFUSERS else "demo"
studio = Studio.local(backend=with_taesd if HAVE_DIFFUSERS else demo)
studio.signup("ada", "ada@example.org", "correct horse battery")
result = studio.generate("ada", request)
assert result.png == outputs[label], "same seed, same PNG bytes"
result

# %% [markdown]
# ## Pointing the diffusers backend at another model
#
# The same settings the server reads from `AICREATIVE_*` variables:
#
# ```python
# from aicreative import Settings, Studio
#
# # Another hub model (downloaded once into <data_dir>/models, unless HF_HOME is set):
# settings = Settings(backend="diffusers", model_id="stabilityai/sdxl-turbo",
#                     taesd_id="madebyollin/taesdxl")   # SDXL needs the SDXL TAESD
# # A model already on disk:
# settings = Settings(backend="diffusers", model_id="/models/my-finetune")
# # Full VAE for the best quality, even on a CPU:
# settings = Settings(backend="diffusers", tiny_autoencoder="off")
#
# studio = Studio.from_settings(settings)
# ```
#
# From the shell: `AICREATIVE_BACKEND=diffusers AICREATIVE_MODEL_ID=stabilityai/sdxl-turbo
# AICREATIVE_TINY_AUTOENCODER=on AICREATIVE_TAESD_ID=madebyollin/taesdxl python app.py`.

# %%
TMP.cleanup()

# %%
# Nothing new or changed in the working folder (no ./data, no .gradio,
# no image files): everything this notebook wrote went to temp folders.
after = snapshot(START_FOLDER)
assert after == BEFORE, sorted(set(after.items()) ^ set(BEFORE.items()))
print("nothing written to", START_FOLDER)
