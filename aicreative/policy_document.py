"""One version of the privacy policy: its file format, parsing and rendering.

Owns :class:`PolicyDocument` and the policy file format: Markdown with a
small front matter block (``version``, ``effective``, ``summary``), parsed
and validated by :func:`parse_policy` (a published version) and
:func:`read_draft` (a draft being published: its front matter may be
partial, and what it says must agree with what the publisher asked), and
rendered to safe HTML. :mod:`aicreative.policy` keeps the book of versions
(which is in force, notices, publishing, announcements).

Nothing here imports the web layer or the store.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt

from .errors import NotFound, ValidationError

#: Replaced by ``Settings.contact_email`` when a document is shown or sent.
CONTACT_PLACEHOLDER = "{contact_email}"
MAX_SUMMARY_CHARS = 500
FRONT_MATTER_KEYS = ("version", "effective", "summary")

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclasses.dataclass(frozen=True)
class PolicyDocument:
    """One version of the privacy policy.

    ``text`` is the Markdown body (without front matter), still holding the
    ``{contact_email}`` placeholder; ``path`` is the file it came from, or
    where :meth:`PolicyBook.publish` writes it.

    >>> doc = parse_policy("---\\nversion: 3\\neffective: 2027-01-01\\nsummary: Shorter.\\n---\\n# Policy\\n\\nMail {contact_email}.\\n")
    >>> doc.version, doc.effective, doc.title
    (3, datetime.date(2027, 1, 1), 'Policy')
    >>> doc.render_text("privacy@example.org").splitlines()[-1]
    'Mail privacy@example.org.'
    """

    version: int
    effective: date
    summary: str
    text: str = dataclasses.field(repr=False)
    path: Path | None = dataclasses.field(default=None, compare=False)

    @property
    def title(self) -> str:
        """The text of the first ``# `` heading."""
        for line in self.text.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
        return "Privacy Policy"

    def in_force(self, today: date) -> bool:
        """Whether this version has taken effect on ``today``."""
        return self.effective <= today

    def render_text(self, contact_email: str) -> str:
        """The Markdown body with the contact address filled in."""
        # str.replace, not str.format: a policy may contain other braces.
        return self.text.replace(CONTACT_PLACEHOLDER, contact_email)

    def html(self, contact_email: str) -> str:
        """The body as HTML that is safe to put into a page.

        Raw HTML in the file is shown as text, never run, and images are not
        rendered (an image would make the browser fetch from another site).

        >>> doc = parse_policy("---\\nversion: 1\\neffective: 2026-01-01\\nsummary: x\\n---\\n# Hi\\n\\n<script>alert(1)</script> **bold**\\n")
        >>> print(doc.html("a@example.org"))
        <h1>Hi</h1>
        <p>&lt;script&gt;alert(1)&lt;/script&gt; <strong>bold</strong></p>
        <BLANKLINE>
        """
        return _markdown().render(self.render_text(contact_email))

    def to_markdown(self) -> str:
        """The document as a file: front matter, then the body."""
        return (
            f"---\nversion: {self.version}\neffective: {self.effective.isoformat()}\n"
            f"summary: {self.summary}\n---\n{self.text}"
        )


@cache
def _markdown() -> MarkdownIt:
    # CommonMark with raw HTML off (it is escaped, not passed through) and
    # images off: the page must make no request to another site.
    return MarkdownIt("commonmark", {"html": False}).disable("image")


def _where(path: Path | str | None) -> str:
    return f"Policy file {path}" if path is not None else "Policy text"


def _split_front_matter(text: str, where: str) -> tuple[dict[str, str] | None, str]:
    """(front matter fields or None when there is none, body)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return None, text
    for close in range(1, len(lines)):
        if lines[close].strip() == "---":
            break
    else:
        raise ValidationError(
            f"{where}: the front matter opened by '---' on line 1 is never closed by a '---' line."
        )
    fields: dict[str, str] = {}
    for number, line in enumerate(lines[1:close], start=2):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep or not key:
            raise ValidationError(
                f"{where}: front matter line {number} is not 'key: value': {line.strip()!r}."
            )
        if key not in FRONT_MATTER_KEYS:
            raise ValidationError(
                f"{where}: unknown front matter key {key!r} on line {number} "
                f"(expected {', '.join(FRONT_MATTER_KEYS)}).",
                field=key,
            )
        if key in fields:
            raise ValidationError(f"{where}: front matter key {key!r} appears twice.", field=key)
        value = value.strip()
        # Accept YAML-style quoting, since people will write it.
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1].strip()
        fields[key] = value
    return fields, "\n".join(lines[close + 1 :])


def _parse_version(raw: str, where: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ValidationError(
            f"{where}: version must be a positive whole number, not {raw!r}.", field="version"
        )
    return int(raw)


def _parse_effective(raw: str, where: str) -> date:
    try:
        if not _ISO_DATE.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            f"{where}: effective must be a date written YYYY-MM-DD, not {raw!r}.",
            field="effective",
        ) from None


def _check_summary(raw: str, where: str) -> str:
    summary = raw.strip()
    if not summary:
        raise ValidationError(
            f"{where}: the summary is empty; say in one line what changes.", field="summary"
        )
    if "\n" in summary or "\r" in summary:
        raise ValidationError(f"{where}: the summary must be one line.", field="summary")
    if len(summary) > MAX_SUMMARY_CHARS:
        raise ValidationError(
            f"{where}: the summary has {len(summary)} characters; keep it to {MAX_SUMMARY_CHARS}.",
            field="summary",
        )
    return summary


def _check_body(body: str, where: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationError(
            f"{where}: the policy text after the front matter is empty.", field="text"
        )
    if not any(line.startswith("# ") and line[2:].strip() for line in body.splitlines()):
        raise ValidationError(
            f"{where}: the policy text needs a title line starting with '# '.", field="text"
        )
    return body + "\n"


def parse_policy(text: str, path: Path | str | None = None) -> PolicyDocument:
    """Parse and validate one policy file; ``path`` names it in error messages.

    >>> parse_policy("---\\nversion: 2\\neffective: 2027-03-01\\nsummary: Clearer wording.\\n---\\n# Privacy Policy\\n\\nText.\\n").summary
    'Clearer wording.'
    >>> parse_policy("---\\nversion: two\\neffective: 2027-03-01\\nsummary: x\\n---\\n# P\\n", "v2.md")
    Traceback (most recent call last):
    ...
    aicreative.errors.ValidationError: Policy file v2.md: version must be a positive whole number, not 'two'.
    """
    where = _where(path)
    fields, body = _split_front_matter(text, where)
    if fields is None:
        raise ValidationError(
            f"{where}: no front matter; start the file with a '---' block holding "
            "version, effective and summary."
        )
    missing = [key for key in FRONT_MATTER_KEYS if key not in fields]
    if missing:
        raise ValidationError(
            f"{where}: the front matter lacks {', '.join(missing)}.", field=missing[0]
        )
    return PolicyDocument(
        version=_parse_version(fields["version"], where),
        effective=_parse_effective(fields["effective"], where),
        summary=_check_summary(fields["summary"], where),
        text=_check_body(body, where),
        path=Path(path) if path is not None else None,
    )


@dataclasses.dataclass(frozen=True)
class Draft:
    """A draft read by :func:`read_draft`: its summary (given or from its
    front matter) and body, not yet checked."""

    where: str
    summary: str
    body: str

    def document(self, version: int, effective: date, path: Path) -> PolicyDocument:
        """The draft as version ``version``, checked (summary and body)."""
        return PolicyDocument(
            version=version,
            effective=effective,
            summary=_check_summary(self.summary, self.where),
            text=_check_body(self.body, self.where),
            path=path,
        )


def read_draft(
    source_file: Path | str, *, version: int, effective: date, summary: str | None
) -> Draft:
    """Read the draft to publish as ``version``, taking effect on ``effective``.

    The draft needs no front matter; front matter that names another version
    or date is refused. The summary is ``summary``, or else the front
    matter's. NotFound when the file is missing, ValidationError otherwise.
    """
    source = Path(source_file)
    where = _where(source)
    try:
        raw = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{where} does not exist.") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{where} is not UTF-8 text.") from None
    except OSError as exc:
        raise ValidationError(f"{where} cannot be read: {exc.strerror}.") from None
    found, body = _split_front_matter(raw, where)
    fields = found or {}
    if "version" in fields and _parse_version(fields["version"], where) != version:
        raise ValidationError(
            f"{where}: its front matter says version {fields['version']}, but the next "
            f"version is {version}; remove the line or correct it.",
            field="version",
        )
    if "effective" in fields and _parse_effective(fields["effective"], where) != effective:
        raise ValidationError(
            f"{where}: its front matter says effective {fields['effective']}, but "
            f"{effective.isoformat()} was asked for; remove the line or correct it.",
            field="effective",
        )
    if summary is None:
        if "summary" not in fields:
            raise ValidationError(
                f"{where}: a summary of the change is needed: pass one, or put "
                "'summary: ...' in the front matter.",
                field="summary",
            )
        summary = fields["summary"]
    return Draft(where, summary, body)
