# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # AI Creative in a notebook: quickstart
#
# The web app and this notebook use the same engine, the `Studio`: accounts,
# credits and generation behind one object. This notebook
#
# 1. makes an in-memory Studio (`Studio.local()`: demo backend, nothing on disk),
# 2. signs up a user, who gets the sign-up credits,
# 3. generates images with a seed and shows them inline,
# 4. reproduces them from the same seed, byte for byte,
# 5. shows the balance going down, and what happens when it runs out,
# 6. optionally shows the web UI itself inline, served from this kernel.
#
# The demo backend paints deterministic pictures from the prompt and the seed;
# it is not an AI model. `02-backends.ipynb` shows the real model backend.

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
# ## A Studio in memory
#
# `Studio.local()` keeps accounts in memory and uses the demo backend, so it
# needs no model, no network and no data folder: a good place to start.
# `Studio.from_settings(Settings(...))` is the same object over the account file
# and the configured backend (see `04-admin.ipynb`).

# %%
from aicreative import GenerationRequest, InsufficientCredits, Studio, pricing

studio = Studio.local()
print("backend:", studio.backend_label)

# %% [markdown]
# ## Sign up
#
# A new account gets the sign-up credits (10 by default).

# %%
account = studio.signup("ada", "ada@example.org", "correct horse battery")
print(account.username, account.email, account.role, "credits:", account.credits)

# %% [markdown]
# ## Generate with a seed
#
# A `GenerationRequest` is validated when it is made (sizes are multiples of 64
# from 256 to 1024, 1 to 4 images...). Each image costs one credit per started
# 512x512 area. Image *i* uses seed `seed + i`, so any one image can be made
# again on its own.
#
# The result displays itself: the last expression of a cell shows the images.

# %%
request = GenerationRequest("a lighthouse on a cliff at dawn, watercolour", seed=42, num_images=2)
first = studio.generate("ada", request)
first

# %%
print("seeds:  ", first.seeds)
print("cost:   ", first.cost, "credits")
print("balance:", first.balance, "credits")
print(f"time:    {first.seconds:.3f} s on {first.backend}")
# The images are PIL images too, for your own processing:
first.images[0].size, first.images[0].mode

# %%
# A PIL image shows itself as well.
first.images[1].resize((128, 128))

# %% [markdown]
# ## Reproduce from the seed
#
# The same request with the same seed gives the same pixels, and since the PNG
# encoding is deterministic, the same bytes. The second image alone comes back
# from its own seed (42 + 1).

# %%
again = studio.generate("ada", request)
assert again.png == first.png, "same seed, same images"

second_alone = studio.generate("ada", GenerationRequest(request.prompt, seed=43))
assert second_alone.png[0] == first.png[1]

other_seed = studio.generate("ada", GenerationRequest(request.prompt, seed=7))
assert other_seed.png[0] != first.png[0]
print("same seed -> identical PNG bytes; a different seed -> a different image")

# %% [markdown]
# ## Privacy of the image files
#
# The PNG bytes carry no prompt or settings unless a request asks for them
# (`embed_metadata=True`): a shared image does not give the prompt away.
# Nothing was written to disk: the images exist only in this kernel's memory
# until you save them yourself.

# %%
from aicreative.images import png_text

assert png_text(first.png[0]) == {}
tagged = studio.generate("ada", GenerationRequest(request.prompt, seed=42, embed_metadata=True))
png_text(tagged.png[0])

# %% [markdown]
# ## The balance goes down
#
# Each generation is charged before it runs (and refunded if the backend
# fails). When the balance is too small, the request is refused and nothing is
# charged.

# %%
balances = [studio.balance("ada")]
for seed in range(3):
    result = studio.generate("ada", GenerationRequest("a paper boat", seed=seed))
    balances.append(result.balance)
print("balance after each generation:", balances)
assert balances == sorted(balances, reverse=True) and balances[-1] == balances[0] - 3

# %%
big = GenerationRequest("a paper boat", width=1024, height=1024, num_images=4)
print("this request costs", pricing.cost(big), "credits; ada has", studio.balance("ada"))
try:
    studio.generate("ada", big)
except InsufficientCredits as exc:
    print("refused:", exc)
assert studio.balance("ada") == balances[-1], "a refused request costs nothing"

# %% [markdown]
# ## The web UI, inline
#
# `aicreative.web.notebook.show(studio)` runs the real web app for this Studio
# in a background thread of the kernel, on 127.0.0.1 only (never a public
# link), and displays it in an iframe. Log in as `ada` with the password above.
# It works when this notebook itself was opened from 127.0.0.1 (or pass
# `url_host="localhost"` if you opened Jupyter at localhost); on a remote
# notebook host your browser cannot reach the kernel's 127.0.0.1.
#
# Run the last cell (`inline.stop()`) when you are done; `stop_all()` stops
# every inline app of the kernel.

# %%
from aicreative.web.notebook import show, stop_all

studio.grant("ada", 10)  # a top-up (operators' call), so that you can try the UI
inline = show(studio, height=700)
inline

# %%
inline.stop()
assert not inline.running
stop_all()  # harmless when nothing else runs

# %%
# Nothing new or changed in the working folder (no ./data, no .gradio,
# no image files): everything this notebook wrote went to temp folders.
after = snapshot(START_FOLDER)
assert after == BEFORE, sorted(set(after.items()) ^ set(BEFORE.items()))
print("nothing written to", START_FOLDER)
