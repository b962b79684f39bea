# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Credit management for operators
#
# Operators manage accounts and credits through the same `Studio` the web app
# uses. Every admin action is checked by the Studio itself (not only hidden in a
# UI): a non-admin gets `PermissionDenied`. This notebook works on a temp data
# folder with the demo backend:
#
# - create users and promote one to admin (`set_role`);
# - list and search accounts (`admin_accounts`: username, email, credits and the
#   objection flag only; never the password hash);
# - grant and remove credits;
# - see a non-admin refused;
# - delete an account.
#
# The `aicreative` command does the same from a shell: `aicreative users list`,
# `aicreative credits grant NAME AMOUNT`, `aicreative users delete NAME`.

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

# %% [markdown]
# ## Users, and an admin
#
# Passwords are hashed with argon2id, which takes a moment per account.

# %%
for name in ("ada", "bob", "cyd"):
    studio.signup(name, f"{name}@example.org", f"{name} has a long password")
studio.set_role("ada", "admin")
for name in ("ada", "bob", "cyd"):
    account = studio.account(name)
    print(f"{account.username:<5} {account.role:<6} {account.credits} credits")
assert studio.is_admin("ada") and not studio.is_admin("bob")

# %% [markdown]
# ## List and search accounts
#
# `admin_accounts(actor, query, page, per_page)` returns one page of rows and the
# total. The rows hold what an admin needs and nothing more.

# %%
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

# %%
rows, total = studio.admin_accounts("ada", query="bob")
print(total, "match for 'bob':", rows)
rows, total = studio.admin_accounts("ada", page=2, per_page=2)
print("page 2 of 2 per page:", [row["username"] for row in rows], "of", total)

# %% [markdown]
# ## Grant and remove credits
#
# A positive amount gives credits, a negative one removes them; a balance never
# goes below zero. Each is one atomic step in the store, safe against a
# generation charging at the same moment.

# %%
print("bob:", studio.balance("bob"))
print("grant 20 ->", studio.admin_grant("ada", "bob", 20))
print("remove 7 ->", studio.admin_grant("ada", "bob", -7))
print("remove 1000 ->", studio.admin_grant("ada", "bob", -1000), "(never below zero)")
assert studio.balance("bob") == 0
studio.admin_grant("ada", "bob", 10)

# %% [markdown]
# ## A non-admin is refused
#
# The check is in the Studio, so every caller (web, CLI, notebook) gets it.

# %%
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

# %% [markdown]
# ## Admins from the configuration
#
# A role is stored in the account and granted by the operator, never taken
# by choosing a name. `AICREATIVE_ADMIN_USERNAMES` (here
# `Settings(admin_usernames=...)`) is applied when the server starts
# (`apply_admin_setting`), to the accounts that exist then, and the role is
# stored: a later sign-up with a listed name gets nothing. A second Studio
# over the same account file sees the same accounts (the store locks the
# file between processes).

# %%
configured = Studio.from_settings(settings.replace(admin_usernames=["cyd"]))
print("listed, before the start:", configured.is_admin("cyd"))
print("promoted at start:", configured.apply_admin_setting())
# Stored in the shared file: this Studio sees the role too.
print("cyd is admin there:", configured.is_admin("cyd"), "| here:", studio.is_admin("cyd"))
assert configured.is_admin("cyd") and studio.is_admin("cyd")
studio.set_role("cyd", "user")  # the operator takes it back (`aicreative users demote`)

# %% [markdown]
# ## Delete an account
#
# The record goes at once, and every session of that user ends with it.

# %%
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

# %% [markdown]
# ## What the account file holds
#
# Only the whitelisted fields, for the accounts that remain.

# %%
for record in studio.store.raw_records():
    assert set(record) <= set(FIELDS)
    print({**record, "password_hash": record["password_hash"][:16] + "..."})
studio.store.close()
configured.store.close()
TMP.cleanup()

# %%
# Nothing new or changed in the working folder (no ./data, no .gradio,
# no image files): everything this notebook wrote went to temp folders.
after = snapshot(START_FOLDER)
assert after == BEFORE, sorted(set(after.items()) ^ set(BEFORE.items()))
print("nothing written to", START_FOLDER)
