# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Scripts against a deployed server: API tokens and `aicreative.Client`
#
# On a shared server (your lab's, a Space) you script with **your** account and
# credits: create a personal API token on the Account tab, then use
# `aicreative.Client(url, token)`. This notebook plays both sides on this machine:
#
# 1. starts a real server in this kernel (the same app as `python app.py`, on
#    127.0.0.1 only) over an in-memory `Studio`,
# 2. creates an account and a token through the `Studio`'s API (what the Account
#    tab does),
# 3. generates through the client: PIL images, seeds, cost and balance,
# 4. shows the clear exceptions: not enough credits, a revoked token,
# 5. calls the OpenAI Images shape that OpenAI clients speak.
#
# Against a real server, only step 3 onward is yours: `Client("https://...", "aic_...")`.

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
# ## A server, an account and a token
#
# `show(studio)` runs the app with uvicorn in a background thread (see
# `aicreative.web.notebook`). A token is shown once: the server stores only its
# hash, its name and dates.

# %%
from aicreative import Client, InsufficientCredits, InvalidToken, Studio
from aicreative.web.notebook import show

studio = Studio.local()
studio.signup("ada", "ada@example.org", "correct horse battery")
new = studio.create_api_token("ada", "notebook 05", days=1)
server = show(studio)
print("server:", server.url)
print("token: ", new.token[:24] + "...", "(shown once; keep it secret)")
print("stored:", studio.store.require("ada").api_tokens[0].keys())

# %% [markdown]
# ## Generate through the client
#
# The result displays itself; `images` are PIL images.

# %%
client = Client(server.url, new.token)
print("balance before:", client.balance())
result = client.generate("a lighthouse on a cliff at dawn, watercolour", count=2, seed=42)
result

# %%
print("seeds:  ", result.seeds)
print("cost:   ", result.cost, "credits")
print("balance:", result.balance, "credits")
assert client.balance() == result.balance
# The same seed gives the same image, byte for byte.
again = client.generate("a lighthouse on a cliff at dawn, watercolour", seed=42)
assert again.png[0] == result.png[0]
result.images[0].size, result.images[0].mode

# %% [markdown]
# ## Clear exceptions
#
# Not enough credits is refused before anything is charged; a revoked token stops
# at once (so do all tokens when the password changes or the account is deleted).

# %%
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

# %% [markdown]
# ## The OpenAI Images shape
#
# `POST /v1/images/generations` answers like OpenAI's API, so an OpenAI client
# works with `base_url=<server>/v1` and the token as its key (the `openai`
# package: `OpenAI(base_url=..., api_key=token).images.generate(prompt=...)`).
# Here with plain `httpx`:

# %%
import httpx

token = studio.create_api_token("ada", "openai shape").token
answer = httpx.post(
    server.url.rstrip("/") + "/v1/images/generations",
    headers={"authorization": f"Bearer {token}"},
    json={"prompt": "a red kite", "n": 1, "size": "512x512", "response_format": "b64_json"},
    timeout=60,
)
print(
    answer.status_code,
    sorted(answer.json()),
    len(answer.json()["data"][0]["b64_json"]),
    "base64 characters",
)

# %%
client.close()
server.stop()
print("server stopped:", not server.running)

# %%
# Nothing new or changed in the working folder (no ./data, no .gradio,
# no image files): everything this notebook wrote went to temp folders.
after = snapshot(START_FOLDER)
assert after == BEFORE, sorted(set(after.items()) ^ set(BEFORE.items()))
print("nothing written to", START_FOLDER)
