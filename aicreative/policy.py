"""Privacy policy versions, effective dates and the notices about them.

This module owns the book of versions: one Markdown file per version
(``v1.md``, ``v2.md``, ...) in the package's ``policies`` folder or in the
folder that ``Settings.policy_dir`` names. It loads them (one document's
format, parsing and HTML are :mod:`aicreative.policy_document`'s), answers
which version is in force on a day and which one is announced next, words
the notice a logged-in user sees, and publishes a new version (the file
write only: the store records acceptance and the Studio sends the
announcement emails that :func:`announcement_email` words).

Days are UTC days, so every server agrees on when a version takes effect.
Nothing here imports the web layer or the store.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from . import durable
from .errors import AICreativeError, NotFound, ValidationError
from .policy_document import (
    PolicyDocument,
    parse_policy,
    read_draft,
)

if TYPE_CHECKING:
    from .config import Settings

#: The policies that ship with the package (``Settings.policy_dir`` empty).
SHIPPED_DIR = Path(__file__).resolve().parent / "policies"
#: Days between publishing a version and its effective date, at the least:
#: the policy promises to announce changes in advance, so "today" is too late.
MIN_NOTICE_DAYS = 1

_FILE_NAME = re.compile(r"v([1-9][0-9]*)\.md")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

NoticeKind = Literal["upcoming", "changed"]


def utc_today() -> date:
    """Today's date in UTC (the default clock of :class:`PolicyBook`)."""
    return datetime.now(UTC).date()


def format_date(day: date) -> str:
    """A date as people read it, the same in every locale.

    >>> format_date(date(2026, 11, 1))
    '1 November 2026'
    """
    # Not strftime("%B"): that follows the process locale, which the app does not own.
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


@dataclasses.dataclass(frozen=True)
class Notice:
    """What to tell a logged-in user about a policy version.

    ``kind`` is ``"upcoming"`` (announced, not yet in force) or ``"changed"``
    (in force, and the user has not accepted it yet: continuing to use the
    service records acceptance of ``version``).
    """

    version: int
    effective: date
    summary: str
    message: str
    kind: NoticeKind


def _check_effective(
    effective: date, today: date, min_notice_days: int, latest: PolicyDocument
) -> None:
    """Refuse an effective date in the past, without notice, or not after ``latest``'s."""
    if effective < today:
        raise ValidationError(
            f"The effective date {effective.isoformat()} is in the past (today is {today.isoformat()}).",
            field="effective",
        )
    if effective < today + timedelta(days=min_notice_days):
        raise ValidationError(
            f"The effective date {effective.isoformat()} leaves no time to announce the change; "
            f"choose a date at least {min_notice_days} day(s) after {today.isoformat()}.",
            field="effective",
        )
    if effective <= latest.effective:
        raise ValidationError(
            f"The effective date {effective.isoformat()} must come after that of version "
            f"{latest.version} ({latest.effective.isoformat()}).",
            field="effective",
        )


# --- the book of versions ----------------------------------------------------


class PolicyBook:
    """All versions in one folder: which is in force, what to announce, publishing.

    The folder is re-read whenever its files change, so a version that
    ``aicreative policy publish`` writes is seen by a running server.
    ``clock`` gives "today" (UTC by default); each method also takes an
    explicit ``today`` for tests and previews.

    >>> book = PolicyBook()  # the versions shipped with the package
    >>> book.current(date(2026, 11, 1)).version
    1
    >>> book.get(1).effective
    datetime.date(2026, 11, 1)
    """

    def __init__(
        self, folder: Path | str | None = None, *, clock: Callable[[], date] = utc_today
    ) -> None:
        self.folder = Path(folder) if folder else SHIPPED_DIR
        self._clock = clock
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._docs: tuple[PolicyDocument, ...] = ()
        self.versions()  # a broken folder stops start-up, not the first page view

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], date] = utc_today
    ) -> PolicyBook:
        """The book that ``settings.policy_dir`` names (empty: the shipped one)."""
        return cls(settings.policy_dir or None, clock=clock)

    @property
    def shipped(self) -> bool:
        """Whether this book is the package's own folder."""
        return self.folder.resolve() == SHIPPED_DIR

    def today(self) -> date:
        return self._clock()

    def versions(self) -> list[PolicyDocument]:
        """Every version, oldest first."""
        with self._lock:
            signature, files = self._scan()
            if signature != self._signature:
                self._docs = self._load(files)
                self._signature = signature
            return list(self._docs)

    def latest(self) -> PolicyDocument:
        """The highest version, whether in force or not."""
        return self.versions()[-1]

    def get(self, version: int) -> PolicyDocument:
        """One version by number; :class:`NotFound` if there is no such version."""
        for doc in self.versions():
            if doc.version == version:
                return doc
        raise NotFound(f"There is no version {version} of the privacy policy.")

    def current(self, today: date | None = None) -> PolicyDocument | None:
        """The version in force on ``today``: the newest whose effective date has come.

        None only for a folder whose first version has not taken effect yet.
        """
        today = today or self.today()
        in_force = [doc for doc in self.versions() if doc.in_force(today)]
        return in_force[-1] if in_force else None

    def upcoming(self, today: date | None = None) -> PolicyDocument | None:
        """The next version to take effect after ``today``, or None."""
        today = today or self.today()
        return next((doc for doc in self.versions() if not doc.in_force(today)), None)

    def notices(
        self, today: date | None = None, accepted_version: int | None = None
    ) -> list[Notice]:
        """Every notice for a user who accepted ``accepted_version`` (None: none yet).

        The "changed" notice for the version in force comes first (if the
        user has not accepted it), then one "upcoming" notice per announced
        version, soonest first.

        >>> [n.kind for n in PolicyBook().notices(date(2026, 11, 1), accepted_version=None)]
        ['changed', 'upcoming']
        """
        today = today or self.today()
        accepted = accepted_version or 0
        found: list[Notice] = []
        in_force = [doc for doc in self.versions() if doc.in_force(today)]
        if in_force and in_force[-1].version > accepted:
            doc = in_force[-1]
            found.append(
                Notice(
                    doc.version,
                    doc.effective,
                    doc.summary,
                    f"The privacy policy changed on {format_date(doc.effective)} "
                    f"({doc.summary.rstrip('.')}). By continuing to use AI Creative you agree to it.",
                    "changed",
                )
            )
        for doc in self.versions():
            if not doc.in_force(today):
                found.append(
                    Notice(
                        doc.version,
                        doc.effective,
                        doc.summary,
                        f"A new privacy policy (version {doc.version}) takes effect on "
                        f"{format_date(doc.effective)}: {doc.summary}",
                        "upcoming",
                    )
                )
        return found

    def notice(
        self, today: date | None = None, accepted_version: int | None = None
    ) -> Notice | None:
        """The one notice that matters most for this user now, or None.

        >>> PolicyBook().notice(date(2026, 11, 1), accepted_version=None).message
        'The privacy policy changed on 1 November 2026 (First version of the policy). By continuing to use AI Creative you agree to it.'
        """
        found = self.notices(today, accepted_version)
        return found[0] if found else None

    def publish(
        self,
        source_file: Path | str,
        effective: date,
        *,
        summary: str | None = None,
        dry_run: bool = False,
        today: date | None = None,
        min_notice_days: int = MIN_NOTICE_DAYS,
    ) -> PolicyDocument:
        """Add ``source_file`` as the next version, taking effect on ``effective``.

        The source needs no front matter: the version is the latest plus one
        and the effective date is the argument (front matter that says
        otherwise is refused). The summary comes from ``summary=`` or else
        from the front matter. The effective date must be at least
        ``min_notice_days`` after ``today`` (users are told in advance) and
        after the latest version's. Writes ``v{N}.md`` atomically unless
        ``dry_run``; sends nothing (see :func:`announcement_email`).

        >>> import pathlib, tempfile
        >>> draft = pathlib.Path(tempfile.mkdtemp()) / "draft.md"
        >>> _ = draft.write_text("# Privacy Policy\\n\\nShorter.\\n")
        >>> doc = PolicyBook().publish(draft, date(2099, 1, 1), summary="Shorter.", dry_run=True)
        >>> doc.version == PolicyBook().latest().version + 1, doc.path.name == f"v{doc.version}.md"
        (True, True)
        >>> import shutil; shutil.rmtree(draft.parent)
        """
        latest = self.latest()
        version = latest.version + 1
        draft = read_draft(source_file, version=version, effective=effective, summary=summary)
        _check_effective(effective, today or self.today(), min_notice_days, latest)
        doc = draft.document(version, effective, self.folder / f"v{version}.md")
        if not dry_run:
            self._write(doc, self.folder / f"v{version}.md")
        return doc

    # --- files ---

    def _scan(self) -> tuple[tuple[tuple[str, int, int], ...], list[tuple[int, Path]]]:
        try:
            entries = list(self.folder.iterdir())
        except FileNotFoundError:
            raise ValidationError(f"Policy folder {self.folder} does not exist.") from None
        except OSError as exc:
            raise ValidationError(
                f"Policy folder {self.folder} cannot be read: {exc.strerror}."
            ) from None
        files: list[tuple[int, Path]] = []
        signature: list[tuple[str, int, int]] = []
        for path in entries:
            match = _FILE_NAME.fullmatch(path.name)
            if not match or not path.is_file():
                continue  # drafts, READMEs and our own temp files are not versions
            st = path.stat()
            files.append((int(match.group(1)), path))
            signature.append((path.name, st.st_mtime_ns, st.st_size))
        files.sort()
        return tuple(sorted(signature)), files

    def _load(self, files: list[tuple[int, Path]]) -> tuple[PolicyDocument, ...]:
        if not files:
            raise ValidationError(
                f"Policy folder {self.folder} holds no policy (expected files v1.md, v2.md, ...)."
            )
        docs: list[PolicyDocument] = []
        for number, path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ValidationError(f"Policy file {path} is not UTF-8 text.") from None
            doc = parse_policy(text, path)
            if doc.version != number:
                raise ValidationError(
                    f"Policy file {path}: its front matter says version {doc.version}, its name says {number}."
                )
            expected = len(docs) + 1
            if number != expected:
                # Every earlier version is kept (the policy says so); a gap means one was lost.
                raise ValidationError(
                    f"Policy folder {self.folder}: version {expected} (v{expected}.md) is missing."
                )
            if docs and doc.effective <= docs[-1].effective:
                raise ValidationError(
                    f"Policy file {path}: version {number} takes effect on {doc.effective.isoformat()}, "
                    f"not after version {docs[-1].version} ({docs[-1].effective.isoformat()})."
                )
            docs.append(doc)
        return tuple(docs)

    def _write(self, doc: PolicyDocument, target: Path) -> None:
        if target.exists():
            raise ValidationError(f"{target} already exists; was this version published already?")
        try:
            # Temp file + replace: a reader never sees half a policy, even after
            # a crash. A policy is public text the server may read as another user.
            durable.write_bytes(target, doc.to_markdown().encode("utf-8"), mode=0o644)
        except OSError as exc:
            raise AICreativeError(
                f"Cannot write into the policy folder {self.folder}: {exc.strerror}."
            ) from None


def announcement_email(
    doc: PolicyDocument, contact_email: str, policy_url: str = ""
) -> tuple[str, str]:
    """(subject, plain-text body) announcing ``doc`` before it takes effect.

    Only for users who have not objected to processing; the Studio sends it.

    >>> subject, body = announcement_email(PolicyBook().get(1), "privacy@example.org")
    >>> subject
    'AI Creative privacy policy: version 1 takes effect on 1 November 2026'
    >>> "privacy@example.org" in body and "{contact_email}" not in body
    True
    """
    when = format_date(doc.effective)
    where = f"at {policy_url}" if policy_url else "on the Privacy page of the site"
    subject = f"AI Creative privacy policy: version {doc.version} takes effect on {when}"
    body = (
        "Hello,\n\n"
        f"We are changing the AI Creative privacy policy. Version {doc.version} takes "
        f"effect on {when}.\n\n"
        f"What changes: {doc.summary}\n\n"
        f"You can read it {where}; the full text is also below.\n\n"
        f"If you keep using AI Creative after {when}, you agree to the new version. "
        "If you do not agree, you can delete your account on your account page before then.\n\n"
        "You receive this email because you have not objected to the processing of your "
        "data. If you object (on your account page), we will tell you about future changes "
        "with notices on the site only.\n\n"
        f"Questions: {contact_email}\n\n"
        "---- The new privacy policy ----\n\n"
        f"{doc.render_text(contact_email)}"
    )
    return subject, body
