"""Write the example notebooks of ``notebooks/`` from the cells below.

The notebooks are generated, not edited by hand, so that their cells stay
reviewable as Python in one place and the committed files stay stripped (no
outputs, no execution counts, stable cell ids, so a re-run makes no diff).

    python notebooks/make_notebooks.py           # (re)write the notebooks
    python notebooks/make_notebooks.py --check   # exit 1 if they are out of date

CI executes them with nbclient (``tests/notebooks/test_notebooks.py``) on the demo
backend and on a tiny random pipeline built inside the notebook.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

HERE = Path(__file__).resolve().parent

Cell = tuple[str, str]  # (kind, source)


def md(source: str) -> Cell:
    return ("markdown", textwrap.dedent(source).strip("\n"))


def code(source: str) -> Cell:
    return ("code", textwrap.dedent(source).strip("\n"))


# -- shared cells ---------------------------------------------------------------

NOTHING_WRITTEN_START = code(
    """
    # This notebook writes nothing outside temp folders. To show it, note what
    # the working folder holds now and compare at the end. (Jupyter's own
    # autosaves of notebooks and checkpoints are left out of the comparison.)
    from pathlib import Path


    def snapshot(folder: Path) -> dict[str, int]:
        return {
            str(path.relative_to(folder)): path.stat().st_mtime_ns
            for path in folder.rglob("*")
            if path.is_file()
            and path.suffix != ".ipynb"
            and ".ipynb_checkpoints" not in path.parts
        }


    START_FOLDER = Path.cwd()
    BEFORE = snapshot(START_FOLDER)
    print(f"working folder: {START_FOLDER} ({len(BEFORE)} files besides notebooks)")
    """
)

NOTHING_WRITTEN_END = code(
    """
    # Nothing new or changed in the working folder (no ./data, no .gradio,
    # no image files): everything this notebook wrote went to temp folders.
    after = snapshot(START_FOLDER)
    assert after == BEFORE, sorted(set(after.items()) ^ set(BEFORE.items()))
    print("nothing written to", START_FOLDER)
    """
)


# -- 01: quickstart ------------------------------------------------------------------

QUICKSTART = [
    md(
        """
        # AI Creative in a notebook: quickstart

        The web app and this notebook use the same engine, the `Studio`: accounts,
        credits and generation behind one object. This notebook

        1. makes an in-memory Studio (`Studio.local()`: demo backend, nothing on disk),
        2. signs up a user, who gets the sign-up credits,
        3. generates images with a seed and shows them inline,
        4. reproduces them from the same seed, byte for byte,
        5. shows the balance going down, and what happens when it runs out,
        6. optionally shows the web UI itself inline, served from this kernel.

        The demo backend paints deterministic pictures from the prompt and the seed;
        it is not an AI model. `02-backends.ipynb` shows the real model backend.
        """
    ),
    NOTHING_WRITTEN_START,
    md(
        """
        ## A Studio in memory

        `Studio.local()` keeps accounts in memory and uses the demo backend, so it
        needs no model, no network and no data folder: a good place to start.
        `Studio.from_settings(Settings(...))` is the same object over the account file
        and the configured backend (see `04-admin.ipynb`).
        """
    ),
    code(
        """
        from aicreative import GenerationRequest, InsufficientCredits, Studio, pricing

        studio = Studio.local()
        print("backend:", studio.backend_label)
        """
    ),
    md("## Sign up\n\nA new account gets the sign-up credits (10 by default)."),
    code(
        """
        account = studio.signup("ada", "ada@example.org", "correct horse battery")
        print(account.username, account.email, account.role, "credits:", account.credits)
        """
    ),
    md(
        """
        ## Generate with a seed

        A `GenerationRequest` is validated when it is made (sizes are multiples of 64
        from 256 to 1024, 1 to 4 images...). Each image costs one credit per started
        512x512 area. Image *i* uses seed `seed + i`, so any one image can be made
        again on its own.

        The result displays itself: the last expression of a cell shows the images.
        """
    ),
    code(
        """
        request = GenerationRequest("a lighthouse on a cliff at dawn, watercolour", seed=42, num_images=2)
        first = studio.generate("ada", request)
        first
        """
    ),
    code(
        """
        print("seeds:  ", first.seeds)
        print("cost:   ", first.cost, "credits")
        print("balance:", first.balance, "credits")
        print(f"time:    {first.seconds:.3f} s on {first.backend}")
        # The images are PIL images too, for your own processing:
        first.images[0].size, first.images[0].mode
        """
    ),
    code(
        """
        # A PIL image shows itself as well.
        first.images[1].resize((128, 128))
        """
    ),
    md(
        """
        ## Reproduce from the seed

        The same request with the same seed gives the same pixels, and since the PNG
        encoding is deterministic, the same bytes. The second image alone comes back
        from its own seed (42 + 1).
        """
    ),
    code(
        """
        again = studio.generate("ada", request)
        assert again.png == first.png, "same seed, same images"

        second_alone = studio.generate("ada", GenerationRequest(request.prompt, seed=43))
        assert second_alone.png[0] == first.png[1]

        other_seed = studio.generate("ada", GenerationRequest(request.prompt, seed=7))
        assert other_seed.png[0] != first.png[0]
        print("same seed -> identical PNG bytes; a different seed -> a different image")
        """
    ),
    md(
        """
        ## Privacy of the image files

        The PNG bytes carry no prompt or settings unless a request asks for them
        (`embed_metadata=True`): a shared image does not give the prompt away.
        Nothing was written to disk: the images exist only in this kernel's memory
        until you save them yourself.
        """
    ),
    code(
        """
        from aicreative.images import png_text

        assert png_text(first.png[0]) == {}
        tagged = studio.generate("ada", GenerationRequest(request.prompt, seed=42, embed_metadata=True))
        png_text(tagged.png[0])
        """
    ),
    md(
        """
        ## The balance goes down

        Each generation is charged before it runs (and refunded if the backend
        fails). When the balance is too small, the request is refused and nothing is
        charged.
        """
    ),
    code(
        """
        balances = [studio.balance("ada")]
        for seed in range(3):
            result = studio.generate("ada", GenerationRequest("a paper boat", seed=seed))
            balances.append(result.balance)
        print("balance after each generation:", balances)
        assert balances == sorted(balances, reverse=True) and balances[-1] == balances[0] - 3
        """
    ),
    code(
        """
        big = GenerationRequest("a paper boat", width=1024, height=1024, num_images=4)
        print("this request costs", pricing.cost(big), "credits; ada has", studio.balance("ada"))
        try:
            studio.generate("ada", big)
        except InsufficientCredits as exc:
            print("refused:", exc)
        assert studio.balance("ada") == balances[-1], "a refused request costs nothing"
        """
    ),
    md(
        """
        ## The web UI, inline

        `aicreative.web.notebook.show(studio)` runs the real web app for this Studio
        in a background thread of the kernel, on 127.0.0.1 only (never a public
        link), and displays it in an iframe. Log in as `ada` with the password above.
        It works when this notebook itself was opened from 127.0.0.1 (or pass
        `url_host="localhost"` if you opened Jupyter at localhost); on a remote
        notebook host your browser cannot reach the kernel's 127.0.0.1.

        Run the last cell (`inline.stop()`) when you are done; `stop_all()` stops
        every inline app of the kernel.
        """
    ),
    code(
        """
        from aicreative.web.notebook import show, stop_all

        studio.grant("ada", 10)  # a top-up (operators' call), so that you can try the UI
        inline = show(studio, height=700)
        inline
        """
    ),
    code(
        """
        inline.stop()
        assert not inline.running
        stop_all()  # harmless when nothing else runs
        """
    ),
    NOTHING_WRITTEN_END,
]


# -- 02: backends -------------------------------------------------------------------------

BACKENDS = [
    md(
        """
        # The same request on each backend

        AI Creative turns a `GenerationRequest` into images through a *backend*:

        | backend | what it is | needs |
        |---|---|---|
        | `demo` | deterministic pictures, not an AI model | nothing |
        | `diffusers` | real text-to-image models (sd-turbo by default) | `pip install .[diffusers]` |
        | `openvino` | the same models, faster on a CPU | `pip install .[openvino]` |
        | `remote` | Hugging Face's inference service | a token, network |

        This notebook runs one request on each backend that can run here, times each
        stage (load, generate, encode to PNG) and plots the times. The diffusers
        backend runs on a **tiny, randomly initialised** pipeline built right here
        (the one the tests use): no download, seconds on a CPU, and pictures of noise.
        It exercises the real loading and generation code; for real pictures point
        the backend at a real model (see the end).

        Backends whose packages are missing are skipped with a message.
        """
    ),
    NOTHING_WRITTEN_START,
    code(
        """
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
        """
    ),
    code(
        """
        def run(label: str, name: str, settings: Settings):
            \"\"\"Load backend `name`, generate `request`, encode the PNGs; time each stage.\"\"\"
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
            stages = ", ".join(f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in timings[label].items())
            print(f"{label:<22} {backend.label}\\n{'':<22} {stages}")
            return backend
        """
    ),
    md("## demo\n\nAlways available."),
    code(
        """
        demo = run("demo", "demo", Settings(backend="demo", data_dir=WORK / "data"))
        """
    ),
    md(
        """
        ## diffusers, on a tiny pipeline built here

        `tests/tiny_pipeline.py` builds a Stable Diffusion pipeline with sd-turbo's
        structure (CLIP text encoder, UNet, VAE, Euler scheduler) but a few hundred
        kilobytes of random weights, and saves it with `save_pretrained`. The backend
        then loads it with the same `from_pretrained` call it uses for a real model:
        `Settings(model_id=...)` takes a hub id or a local folder.

        `device="cpu"` keeps the timings comparable; the default `auto` picks CUDA,
        then Apple MPS, then the CPU. `tiny_autoencoder="off"` decodes with the
        pipeline's own VAE (the default `auto` uses the tiny autoencoder on a CPU).
        """
    ),
    code(
        """
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
        """
    ),
    code(
        """
        if HAVE_DIFFUSERS:
            tiny_settings = Settings(
                backend="diffusers",
                model_id=str(pipeline_dir),
                tiny_autoencoder="off",
                device="cpu",
                data_dir=WORK / "data",
            )
            tiny = run("diffusers", "diffusers", tiny_settings)
        """
    ),
    md(
        """
        ### With the tiny autoencoder (TAESD)

        On a CPU most of sd-turbo's time goes into the VAE decoder; TAESD
        (`AutoencoderTiny`) decodes in a fraction of it (for the full-size model on a
        2-core CPU: ~24 s down to ~2 s). Turn it on with `tiny_autoencoder="on"` and
        name it with `taesd_id` (a hub id such as `madebyollin/taesd`, or a folder);
        here it is the tiny TAESD built above.
        """
    ),
    code(
        """
        if HAVE_DIFFUSERS:
            import dataclasses

            taesd_settings = dataclasses.replace(
                tiny_settings, tiny_autoencoder="on", taesd_id=str(taesd_dir)
            )
            with_taesd = run("diffusers + TAESD", "diffusers", taesd_settings)
            assert with_taesd.uses_tiny_autoencoder and not tiny.uses_tiny_autoencoder
        """
    ),
    md(
        """
        ## openvino and remote

        The OpenVINO backend converts the configured diffusers model once into a model
        cache in the data folder (here: a temp folder). It runs only where its package
        and backend module are installed. The remote backend needs network access and
        a Hugging Face token, so this notebook only shows how to configure it.
        """
    ),
    code(
        """
        if not HAVE_DIFFUSERS or importlib.util.find_spec("openvino") is None:
            print("skipped openvino: needs pip install .[openvino] and the diffusers extra")
        else:
            try:
                run("openvino", "openvino", dataclasses.replace(tiny_settings, backend="openvino"))
            except BackendUnavailable as exc:
                print("skipped openvino:", exc)

        print(
            "skipped remote: needs network access. Configure it with\\n"
            '  Settings(backend="remote", model_id="stabilityai/sd-turbo", hf_token="hf_...")\\n'
            '  or endpoint_url="https://....endpoints.huggingface.cloud" for a dedicated endpoint\\n'
            "  (AICREATIVE_BACKEND=remote, AICREATIVE_HF_TOKEN or HF_TOKEN, AICREATIVE_ENDPOINT_URL)."
        )
        """
    ),
    md(
        "## Timings per stage\n\nLoad happens once per server; generate and encode happen for every request."
    ),
    code(
        """
        print(f"{'backend':<22}{'load':>10}{'generate':>10}{'encode':>10}   (ms)")
        for label, stages in timings.items():
            print(f"{label:<22}" + "".join(f"{stages[s] * 1000:>10.0f}" for s in ("load", "generate", "encode")))
        """
    ),
    code(
        """
        # A plot drawn inline (matplotlib's Agg renderer into the cell output; no file).
        %matplotlib inline
        import matplotlib.pyplot as plt

        labels = list(timings)
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(labels)))
        left = [0.0] * len(labels)
        for stage, colour in (("load", "#8e9aaf"), ("generate", "#6c4ab6"), ("encode", "#f2a65a")):
            widths = [timings[label][stage] * 1000 for label in labels]
            ax.barh(labels, widths, left=left, color=colour, label=stage)
            left = [a + b for a, b in zip(left, widths)]
        ax.set_xlabel("milliseconds")
        ax.invert_yaxis()
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        ax.set_title(f"{request.width}x{request.height}, {request.steps} step(s), seed {request.seed}")
        fig.tight_layout()
        plt.show()
        plt.close(fig)
        """
    ),
    code(
        """
        # What each backend made (the tiny pipeline's random weights paint noise).
        from IPython.display import HTML

        HTML(
            "".join(
                f'<figure style="display:inline-block;margin:4px"><img src="{data_url(pngs[0])}" width="128">'
                f"<figcaption>{label}</figcaption></figure>"
                for label, pngs in outputs.items()
            )
        )
        """
    ),
    md(
        """
        ## A backend in a Studio; seeds reproduce

        Any backend can serve a Studio, which adds accounts and credits around it.
        Each image gets its own seeded generator, so the same request and seed give
        the same pixels again: the Studio's PNG bytes equal those made above.
        """
    ),
    code(
        """
        label = "diffusers + TAESD" if HAVE_DIFFUSERS else "demo"
        studio = Studio.local(backend=with_taesd if HAVE_DIFFUSERS else demo)
        studio.signup("ada", "ada@example.org", "correct horse battery")
        result = studio.generate("ada", request)
        assert result.png == outputs[label], "same seed, same PNG bytes"
        result
        """
    ),
    md(
        """
        ## Pointing the diffusers backend at another model

        The same settings the server reads from `AICREATIVE_*` variables:

        ```python
        from aicreative import Settings, Studio

        # Another hub model (downloaded once into <data_dir>/models, unless HF_HOME is set):
        settings = Settings(backend="diffusers", model_id="stabilityai/sdxl-turbo",
                            taesd_id="madebyollin/taesdxl")   # SDXL needs the SDXL TAESD
        # A model already on disk:
        settings = Settings(backend="diffusers", model_id="/models/my-finetune")
        # Full VAE for the best quality, even on a CPU:
        settings = Settings(backend="diffusers", tiny_autoencoder="off")

        studio = Studio.from_settings(settings)
        ```

        From the shell: `AICREATIVE_BACKEND=diffusers AICREATIVE_MODEL_ID=stabilityai/sdxl-turbo
        AICREATIVE_TINY_AUTOENCODER=on AICREATIVE_TAESD_ID=madebyollin/taesdxl python app.py`.
        """
    ),
    code(
        """
        TMP.cleanup()
        """
    ),
    NOTHING_WRITTEN_END,
]


# -- 03: privacy audit ----------------------------------------------------------------------

PRIVACY_AUDIT = [
    md(
        """
        # Privacy audit: what reaches the server's disk

        The privacy policy promises that the server stores only the account (username,
        email, password hash, credits, role and their bookkeeping) and that **prompts
        and images never touch the server's disk or logs**. This notebook checks it
        against the real server:

        1. start the real web app from this notebook, on a temp data folder, with
           Gradio's cache pointed at a temp folder and every log record captured;
        2. sign up and generate **through HTTP**, like a browser, with a unique
           marker prompt;
        3. show that the account file holds only the whitelisted fields;
        4. scan the data folder, Gradio's cache, the server's working folder and the
           logs for the marker and for PNG, JPEG and WebP data.

        Each check is an `assert`, so this notebook fails in CI if it regresses.
        """
    ),
    NOTHING_WRITTEN_START,
    md(
        """
        ## Temp folders and captured logs

        Gradio reads `GRADIO_TEMP_DIR` when it is imported, so this cell runs before
        anything imports the web app (restart the kernel if you ran other cells first).
        The server's working folder is a temp folder too, so that anything it might
        write relative to it (`.gradio/`, `./data`) would be found.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        ## Start the real server

        `show(settings=...)` builds the Studio from settings (account file in the data
        folder, demo backend) and serves the same app as `python app.py`, on
        127.0.0.1 and a free port, in a thread of this kernel.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        ## Sign up through HTTP

        Like a browser: fetch the form, take its CSRF token, post it back with the
        `Origin` header a browser sends. The answer is a redirect to the app with
        the session cookie.
        """
    ),
    code(
        """
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
        print("cookie flags:", "; ".join(part.strip() for part in answer.headers["set-cookie"].split(";")[1:]))
        """
    ),
    md(
        """
        ## Generate through the app's API

        The UI's Generate button is the Gradio endpoint `generate`: a POST starts the
        job, and a GET streams the result as server-sent events. The images come back
        inside the response (a base64 data URL), for the browser to keep in its own
        gallery.
        """
    ),
    code(
        """
        import base64
        import html
        import json

        # prompt, negative prompt, size, steps, guidance, seed, random seed?, images
        inputs = [MARKER, NEGATIVE_MARKER, "256x256", 1, 0, 42, False, 2]
        job = client.post("/gradio_api/call/generate", json={"data": inputs})
        assert job.status_code == 200, job.text
        stream = client.get(f"/gradio_api/call/generate/{job.json()['event_id']}")
        events = [line.removeprefix("event: ") for line in stream.text.splitlines() if line.startswith("event:")]
        assert events[-1] == "complete", stream.text[:500]
        payload, status, _header = json.loads(
            [line for line in stream.text.splitlines() if line.startswith("data:")][-1].removeprefix("data:")
        )
        assert payload["prompt"] == MARKER
        pngs = [base64.b64decode(image["data_url"].split(",", 1)[1]) for image in payload["images"]]
        assert all(png.startswith(b"\\x89PNG\\r\\n\\x1a\\n") for png in pngs)
        print(html.unescape(re.sub("<[^>]+>", "", status)))
        print("seeds:", [image["seed"] for image in payload["images"]], "balance:", payload["balance"])
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        ## What the store holds

        The account file is TinyDB JSON. Every record may hold only the fields of the
        store's whitelist (`aicreative.store.FIELDS`); the store refuses any other.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        ## No prompt and no image on disk, nor in the logs

        Every file under the data folder, Gradio's cache and the server's working
        folder is read and searched for the two markers (in its bytes and its name),
        for PNG, JPEG and WebP signatures, and for the base64 start of a PNG (a data
        URL written to a file). The captured log is searched for the markers.
        """
    ),
    code(
        """
        SIGNATURES = {
            "PNG": b"\\x89PNG\\r\\n\\x1a\\n",
            "PNG as base64": b"iVBORw0KGgo",
            "JPEG": b"\\xff\\xd8\\xff",
        }
        markers = [MARKER.encode(), NEGATIVE_MARKER.encode()]


        def scan(folder: Path) -> tuple[list[str], int]:
            \"\"\"(findings, files read) for every file under `folder`.\"\"\"
            findings, count = [], 0
            for path in sorted(folder.rglob("*")):
                if any(m.decode() in path.name for m in markers):
                    findings.append(f"{path}: marker in the file name")
                if not path.is_file():
                    continue
                count += 1
                data = path.read_bytes()
                findings += [f"{path}: marker" for m in markers if m in data]
                findings += [f"{path}: {kind}" for kind, sig in SIGNATURES.items() if kind != "JPEG" and sig in data]
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
        """
    ),
    md("## Stop the server and clean up"),
    code(
        """
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
        """
    ),
    NOTHING_WRITTEN_END,
]


# -- 04: admin -----------------------------------------------------------------------------

ADMIN = [
    md(
        """
        # Credit management for operators

        Operators manage accounts and credits through the same `Studio` the web app
        uses. Every admin action is checked by the Studio itself (not only hidden in a
        UI): a non-admin gets `PermissionDenied`. This notebook works on a temp data
        folder with the demo backend:

        - create users and promote one to admin (`set_role`);
        - list and search accounts (`admin_accounts`: username, email, credits and the
          objection flag only; never the password hash);
        - grant and remove credits;
        - see a non-admin refused;
        - delete an account.

        The `aicreative` command does the same from a shell: `aicreative users list`,
        `aicreative credits grant NAME AMOUNT`, `aicreative users delete NAME`.
        """
    ),
    NOTHING_WRITTEN_START,
    code(
        """
        import secrets
        import tempfile

        from aicreative import AuthError, NotFound, PermissionDenied, Settings, Studio
        from aicreative.store import FIELDS

        TMP = tempfile.TemporaryDirectory(prefix="aicreative-admin-")
        settings = Settings(
            data_dir=Path(TMP.name) / "data",
            backend="demo",
            # In production: AICREATIVE_SECRET_KEY, a long random value.
            secret_key=secrets.token_urlsafe(32),
            signup_credits=5,
        )
        studio = Studio.from_settings(settings)
        print("account file:", settings.store_path)
        """
    ),
    md(
        "## Users, and an admin\n\nPasswords are hashed with argon2id, which takes a moment per account."
    ),
    code(
        """
        for name in ("ada", "bob", "cyd"):
            studio.signup(name, f"{name}@example.org", f"{name} has a long password")
        studio.set_role("ada", "admin")
        for name in ("ada", "bob", "cyd"):
            account = studio.account(name)
            print(f"{account.username:<5} {account.role:<6} {account.credits} credits")
        assert studio.is_admin("ada") and not studio.is_admin("bob")
        """
    ),
    md(
        """
        ## List and search accounts

        `admin_accounts(actor, query, page, per_page)` returns one page of rows and the
        total. The rows hold what an admin needs and nothing more.
        """
    ),
    code(
        """
        from IPython.display import HTML


        def table(rows: list[dict]) -> HTML:
            import html

            head = "".join(f"<th>{html.escape(key)}</th>" for key in rows[0])
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row.values()) + "</tr>"
                for row in rows
            )
            return HTML(f"<table><tr>{head}</tr>{body}</table>")


        rows, total = studio.admin_accounts("ada")
        assert total == 3 and all(set(row) == {"username", "email", "credits", "objected"} for row in rows)
        table(rows)
        """
    ),
    code(
        """
        rows, total = studio.admin_accounts("ada", query="bob")
        print(total, "match for 'bob':", rows)
        rows, total = studio.admin_accounts("ada", page=2, per_page=2)
        print("page 2 of 2 per page:", [row["username"] for row in rows], "of", total)
        """
    ),
    md(
        """
        ## Grant and remove credits

        A positive amount gives credits, a negative one removes them; a balance never
        goes below zero. Each is one atomic step in the store, safe against a
        generation charging at the same moment.
        """
    ),
    code(
        """
        print("bob:", studio.balance("bob"))
        print("grant 20 ->", studio.admin_grant("ada", "bob", 20))
        print("remove 7 ->", studio.admin_grant("ada", "bob", -7))
        print("remove 1000 ->", studio.admin_grant("ada", "bob", -1000), "(never below zero)")
        assert studio.balance("bob") == 0
        studio.admin_grant("ada", "bob", 10)
        """
    ),
    md(
        "## A non-admin is refused\n\nThe check is in the Studio, so every caller (web, CLI, notebook) gets it."
    ),
    code(
        """
        for action in (
            lambda: studio.admin_accounts("bob"),
            lambda: studio.admin_grant("bob", "bob", 100),
            lambda: studio.admin_delete("bob", "cyd"),
        ):
            try:
                action()
                raise AssertionError("a non-admin got through")
            except PermissionDenied as exc:
                print("refused:", exc)
        assert studio.balance("bob") == 10
        """
    ),
    md(
        """
        ## Admins from the configuration

        A role is stored in the account and granted by the operator, never taken
        by choosing a name. `AICREATIVE_ADMIN_USERNAMES` (here
        `Settings(admin_usernames=...)`) is applied when the server starts
        (`apply_admin_setting`), to the accounts that exist then, and the role is
        stored: a later sign-up with a listed name gets nothing. A second Studio
        over the same account file sees the same accounts (the store locks the
        file between processes).
        """
    ),
    code(
        """
        import dataclasses

        configured = Studio.from_settings(dataclasses.replace(settings, admin_usernames=["cyd"]))
        print("listed, before the start:", configured.is_admin("cyd"))
        print("promoted at start:", configured.apply_admin_setting())
        # Stored in the shared file: this Studio sees the role too.
        print("cyd is admin there:", configured.is_admin("cyd"), "| here:", studio.is_admin("cyd"))
        assert configured.is_admin("cyd") and studio.is_admin("cyd")
        studio.set_role("cyd", "user")  # the operator takes it back (`aicreative users demote`)
        """
    ),
    md(
        "## Delete an account\n\nThe record goes at once, and every session of that user ends with it."
    ),
    code(
        """
        token = studio.login("cyd", "cyd has a long password")
        studio.admin_delete("ada", "cyd")
        try:
            studio.user_from_session(token)
        except AuthError as exc:
            print("cyd's session:", exc)
        try:
            studio.admin_delete("ada", "cyd")
        except NotFound as exc:
            print("again:", exc)
        rows, total = studio.admin_accounts("ada")
        assert [row["username"] for row in rows] == ["ada", "bob"]
        table(rows)
        """
    ),
    md(
        "## What the account file holds\n\nOnly the whitelisted fields, for the accounts that remain."
    ),
    code(
        """
        for record in studio.store.raw_records():
            assert set(record) <= set(FIELDS)
            print({**record, "password_hash": record["password_hash"][:16] + "..."})
        studio.store.close()
        configured.store.close()
        TMP.cleanup()
        """
    ),
    NOTHING_WRITTEN_END,
]

# -- 05: a remote client ---------------------------------------------------------------

REMOTE_CLIENT = [
    md(
        """
        # Scripts against a deployed server: API tokens and `aicreative.Client`

        On a shared server (your lab's, a Space) you script with **your** account and
        credits: create a personal API token on the Account tab, then use
        `aicreative.Client(url, token)`. This notebook plays both sides on this machine:

        1. starts a real server in this kernel (the same app as `python app.py`, on
           127.0.0.1 only) over an in-memory `Studio`,
        2. creates an account and a token through the `Studio`'s API (what the Account
           tab does),
        3. generates through the client: PIL images, seeds, cost and balance,
        4. shows the clear exceptions: not enough credits, a revoked token,
        5. calls the OpenAI Images shape that OpenAI clients speak.

        Against a real server, only step 3 onward is yours: `Client("https://...", "aic_...")`.
        """
    ),
    NOTHING_WRITTEN_START,
    md(
        """
        ## A server, an account and a token

        `show(studio)` runs the app with uvicorn in a background thread (see
        `aicreative.web.notebook`). A token is shown once: the server stores only its
        hash, its name and dates.
        """
    ),
    code(
        """
        from aicreative import Client, InsufficientCredits, InvalidToken, Studio
        from aicreative.web.notebook import show

        studio = Studio.local()
        studio.signup("ada", "ada@example.org", "correct horse battery")
        new = studio.create_api_token("ada", "notebook 05", days=1)
        server = show(studio)
        print("server:", server.url)
        print("token: ", new.token[:24] + "...", "(shown once; keep it secret)")
        print("stored:", studio.store.require("ada").api_tokens[0].keys())
        """
    ),
    md("## Generate through the client\n\nThe result displays itself; `images` are PIL images."),
    code(
        """
        client = Client(server.url, new.token)
        print("balance before:", client.balance())
        result = client.generate("a lighthouse on a cliff at dawn, watercolour", count=2, seed=42)
        result
        """
    ),
    code(
        """
        print("seeds:  ", result.seeds)
        print("cost:   ", result.cost, "credits")
        print("balance:", result.balance, "credits")
        assert client.balance() == result.balance
        # The same seed gives the same image, byte for byte.
        again = client.generate("a lighthouse on a cliff at dawn, watercolour", seed=42)
        assert again.png[0] == result.png[0]
        result.images[0].size, result.images[0].mode
        """
    ),
    md(
        """
        ## Clear exceptions

        Not enough credits is refused before anything is charged; a revoked token stops
        at once (so do all tokens when the password changes or the account is deleted).
        """
    ),
    code(
        """
        try:
            client.generate("a kite", size="1024x1024", count=4)
        except InsufficientCredits as exc:
            print("refused:", exc)
        assert client.balance() == again.balance

        studio.revoke_api_token("ada", new.info["id"])
        try:
            client.balance()
        except InvalidToken as exc:
            print("revoked:", exc)
        """
    ),
    md(
        """
        ## The OpenAI Images shape

        `POST /v1/images/generations` answers like OpenAI's API, so an OpenAI client
        works with `base_url=<server>/v1` and the token as its key (the `openai`
        package: `OpenAI(base_url=..., api_key=token).images.generate(prompt=...)`).
        Here with plain `httpx`:
        """
    ),
    code(
        """
        import httpx

        token = studio.create_api_token("ada", "openai shape").token
        answer = httpx.post(
            server.url.rstrip("/") + "/v1/images/generations",
            headers={"authorization": f"Bearer {token}"},
            json={"prompt": "a red kite", "n": 1, "size": "512x512", "response_format": "b64_json"},
            timeout=60,
        )
        print(answer.status_code, sorted(answer.json()), len(answer.json()["data"][0]["b64_json"]), "base64 characters")
        """
    ),
    code(
        """
        client.close()
        server.stop()
        print("server stopped:", not server.running)
        """
    ),
    NOTHING_WRITTEN_END,
]


NOTEBOOKS: dict[str, list[Cell]] = {
    "01-quickstart.ipynb": QUICKSTART,
    "02-backends.ipynb": BACKENDS,
    "03-privacy-audit.ipynb": PRIVACY_AUDIT,
    "04-admin.ipynb": ADMIN,
    "05-remote-client.ipynb": REMOTE_CLIENT,
}


def build(cells: list[Cell], stem: str) -> NotebookNode:
    """A stripped notebook: no outputs, no execution counts, stable cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }
    for index, (kind, source) in enumerate(cells, start=1):
        cell = (
            nbformat.v4.new_markdown_cell(source)
            if kind == "markdown"
            else nbformat.v4.new_code_cell(source)
        )
        # Stable ids: a re-run of this script changes nothing in git.
        cell.id = f"{stem[:2]}-{index:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(NOTEBOOKS[name], name), version=4) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / name
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.write_text(text, encoding="utf-8")
        print("wrote", path.relative_to(HERE.parent))
    if stale:
        print("out of date (run python notebooks/make_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
