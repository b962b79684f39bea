"""The examples in the public API's docstrings run and give what they show.

Notebooks and the README send people to these docstrings, so a stale
example is a bug. Each module runs through ``doctest.testmod``; a module
listed here must keep at least one example, so deleting them all fails too.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

#: The modules of the public API whose docstrings carry examples.
MODULES = [
    "aicreative",
    "aicreative.studio",
    "aicreative.backends",
    "aicreative.backends.base",
    "aicreative.pricing",
    "aicreative.hosts",
    "aicreative.accounts",
    "aicreative.store",
    "aicreative.config",
    "aicreative.policy",
    "aicreative.policy_document",
    "aicreative.images",
    "aicreative.mail",
    "aicreative.web.notebook",
    "aicreative.apitokens",
    "aicreative.client",
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Examples run in an empty folder, so one that writes (./data, a secret
    # key file) is caught instead of littering the checkout.
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    results = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True)
    report = capsys.readouterr().out
    assert results.attempted > 0, f"{name} has no docstring examples"
    assert results.failed == 0, f"{results.failed} example(s) of {name} failed:\n{report}"
    assert list(tmp_path.iterdir()) == [], f"{name}'s examples wrote files"
