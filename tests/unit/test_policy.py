"""Policy documents: parsing, validation, dates, notices, publishing, HTML, and v1's promises."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from aicreative.errors import NotFound, ValidationError
from aicreative.policy import SHIPPED_DIR, PolicyBook, announcement_email, format_date
from aicreative.policy_document import CONTACT_PLACEHOLDER, PolicyDocument, parse_policy

V1_EFFECTIVE = date(2026, 11, 1)


def policy_text(
    version: object = 1,
    effective: object = "2026-11-01",
    summary: object = "First version.",
    body: str = "# Privacy Policy\n\nWe keep little. Write to {contact_email}.\n",
) -> str:
    lines = ["---"]
    for key, value in (("version", version), ("effective", effective), ("summary", summary)):
        if value is not None:
            lines.append(f"{key}: {value}")
    lines.append("---")
    return "\n".join(lines) + "\n" + body


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A writable folder with the shipped v1 (the publishing tests start from it,
    whatever later versions ship)."""
    target = tmp_path / "policies"
    target.mkdir()
    shutil.copy(SHIPPED_DIR / "v1.md", target)
    return target


@pytest.fixture
def draft(tmp_path: Path) -> Path:
    path = tmp_path / "draft.md"
    path.write_text("# Privacy Policy\n\nVersion two. Contact {contact_email}.\n", encoding="utf-8")
    return path


# --- parsing ----------------------------------------------------------------


def test_parse_reads_front_matter_and_body() -> None:
    doc = parse_policy(policy_text(), "v1.md")
    assert doc.version == 1
    assert doc.effective == date(2026, 11, 1)
    assert doc.summary == "First version."
    assert doc.text.startswith("# Privacy Policy")
    assert doc.title == "Privacy Policy"
    assert doc.path == Path("v1.md")


def test_parse_accepts_crlf_bom_and_quoted_summary() -> None:
    text = "\ufeff" + policy_text(summary='"Quoted: with a colon."').replace("\n", "\r\n")
    doc = parse_policy(text)
    assert doc.summary == "Quoted: with a colon."
    assert "\r" not in doc.text


def test_round_trip_through_file_form() -> None:
    doc = parse_policy(policy_text(version=4, effective="2030-02-03", summary="Four."))
    assert parse_policy(doc.to_markdown()) == doc


@pytest.mark.parametrize(
    ("text", "problem", "field"),
    [
        ("# Privacy Policy\n\nNo front matter.\n", "no front matter", None),
        ("---\nversion: 1\n# Privacy Policy\n", "never closed", None),
        (policy_text(version=None), "lacks version", "version"),
        (policy_text(effective=None), "lacks effective", "effective"),
        (policy_text(summary=None), "lacks summary", "summary"),
        (policy_text(version=0), "positive whole number", "version"),
        (policy_text(version=-2), "positive whole number", "version"),
        (policy_text(version="1.5"), "positive whole number", "version"),
        (policy_text(version="two"), "positive whole number", "version"),
        (policy_text(effective="2026-13-01"), "YYYY-MM-DD", "effective"),
        (policy_text(effective="1 Nov 2026"), "YYYY-MM-DD", "effective"),
        (policy_text(effective="20261101"), "YYYY-MM-DD", "effective"),
        (policy_text(summary="''"), "summary is empty", "summary"),
        (policy_text(summary="x" * 501), "501 characters", "summary"),
        (policy_text(body="\n\n  \n"), "is empty", "text"),
        (policy_text(body="Privacy Policy\n\nNo heading.\n"), "'# '", "text"),
        (policy_text(body="## Only a subheading\n"), "'# '", "text"),
        (
            "---\nversion: 1\nversion: 2\neffective: 2026-11-01\nsummary: x\n---\n# P\n",
            "twice",
            "version",
        ),
        (
            "---\nversion: 1\nauthor: me\neffective: 2026-11-01\nsummary: x\n---\n# P\n",
            "unknown",
            "author",
        ),
        ("---\nversion 1\neffective: 2026-11-01\nsummary: x\n---\n# P\n", "'key: value'", None),
    ],
)
def test_parse_errors_name_file_and_problem(text: str, problem: str, field: str | None) -> None:
    parse_policy(policy_text(), "control.md")  # the helper's defaults are valid
    with pytest.raises(ValidationError) as caught:
        parse_policy(text, "policies/v1.md")
    message = str(caught.value)
    assert message.startswith("Policy file policies/v1.md: "), message
    assert problem in message
    assert caught.value.field == field


def test_parse_error_without_path_says_policy_text() -> None:
    with pytest.raises(ValidationError, match=r"^Policy text: "):
        parse_policy(policy_text(version="x"))


def test_summary_of_500_characters_is_allowed() -> None:
    assert len(parse_policy(policy_text(summary="y" * 500)).summary) == 500


# --- rendering --------------------------------------------------------------


def test_render_text_fills_in_contact_address_and_keeps_other_braces() -> None:
    doc = parse_policy(policy_text(body="# P\n\nMail {contact_email}; keep {this}.\n"))
    text = doc.render_text("privacy@example.org")
    assert "privacy@example.org" in text
    assert CONTACT_PLACEHOLDER not in text
    assert "{this}" in text


def test_html_escapes_raw_html_and_scripts() -> None:
    body = (
        "# Title <b>bold</b>\n\n"
        "<script>alert('x')</script>\n\n"
        'Inline <img src=x onerror="alert(1)"> and <iframe src="https://evil.example"></iframe>\n\n'
        "- **strong** item\n"
        "- [bad](javascript:alert(1))\n\n"
        "![tracker](https://tracker.example/pixel.png)\n"
    )
    html = parse_policy(policy_text(body=body)).html("privacy@example.org")
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "<iframe" not in lowered
    assert "<b>" not in lowered
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in lowered
    # An image would be a request to another site: never an <img>, only text.
    assert 'src="https://tracker.example' not in lowered
    assert "<h1>Title &lt;b&gt;bold&lt;/b&gt;</h1>" in html
    assert "<li><strong>strong</strong> item</li>" in html


def test_html_escapes_a_hostile_contact_address() -> None:
    doc = parse_policy(policy_text())
    html = doc.html('<script>alert("x")</script>@example.org')
    assert "<script" not in html.lower()


# --- dates and notices ------------------------------------------------------


def write(folder: Path, version: int, effective: str, summary: str) -> None:
    (folder / f"v{version}.md").write_text(
        policy_text(version, effective, summary), encoding="utf-8"
    )


@pytest.fixture
def three(tmp_path: Path) -> PolicyBook:
    folder = tmp_path / "three"
    folder.mkdir()
    write(folder, 1, "2026-01-01", "First.")
    write(folder, 2, "2026-06-01", "Second.")
    write(folder, 3, "2027-01-01", "Third.")
    (folder / "README.txt").write_text("not a policy")
    (folder / "draft.md").write_text("# not a version")
    return PolicyBook(folder)


def test_versions_are_sorted_and_other_files_ignored(three: PolicyBook) -> None:
    assert [doc.version for doc in three.versions()] == [1, 2, 3]
    assert three.latest().version == 3
    assert three.get(2).summary == "Second."
    with pytest.raises(NotFound):
        three.get(9)


@pytest.mark.parametrize(
    ("today", "current", "upcoming"),
    [
        (date(2025, 12, 31), None, 1),
        (date(2026, 1, 1), 1, 2),
        (date(2026, 5, 31), 1, 2),
        (date(2026, 6, 1), 2, 3),
        (date(2026, 12, 31), 2, 3),
        (date(2027, 1, 1), 3, None),
        (date(2040, 1, 1), 3, None),
    ],
)
def test_current_and_upcoming_by_date(
    three: PolicyBook, today: date, current: int | None, upcoming: int | None
) -> None:
    doc = three.current(today)
    assert (doc.version if doc else None) == current
    nxt = three.upcoming(today)
    assert (nxt.version if nxt else None) == upcoming


def test_clock_is_injectable(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    write(folder, 1, "2026-01-01", "First.")
    write(folder, 2, "2026-06-01", "Second.")
    book = PolicyBook(folder, clock=lambda: date(2026, 3, 1))
    assert book.today() == date(2026, 3, 1)
    assert book.current().version == 1  # type: ignore[union-attr]
    assert book.upcoming().version == 2  # type: ignore[union-attr]


def test_notice_before_effective_date_announces(three: PolicyBook) -> None:
    notice = three.notice(date(2026, 5, 1), accepted_version=1)
    assert notice is not None
    assert notice.kind == "upcoming"
    assert notice.version == 2
    assert notice.effective == date(2026, 6, 1)
    assert notice.message == "A new privacy policy (version 2) takes effect on 1 June 2026: Second."


def test_notice_after_effective_date_until_accepted(three: PolicyBook) -> None:
    notice = three.notice(date(2026, 6, 1), accepted_version=1)
    assert notice is not None
    assert notice.kind == "changed"
    assert notice.version == 2
    assert notice.summary == "Second."
    assert notice.message == (
        "The privacy policy changed on 1 June 2026 (Second). "
        "By continuing to use AI Creative you agree to it."
    )
    # Once version 2 is accepted, the next announcement takes its place.
    after = three.notice(date(2026, 6, 2), accepted_version=2)
    assert after is not None and after.kind == "upcoming" and after.version == 3
    assert three.notice(date(2027, 2, 1), accepted_version=3) is None


def test_notices_lists_changed_first_then_upcoming(three: PolicyBook) -> None:
    found = three.notices(date(2026, 7, 1), accepted_version=None)
    assert [(n.kind, n.version) for n in found] == [("changed", 2), ("upcoming", 3)]
    assert three.notices(date(2025, 1, 1), None) == three.notices(date(2025, 1, 1), 0)
    assert [n.kind for n in three.notices(date(2025, 1, 1), None)] == ["upcoming"] * 3


def test_format_date_ignores_locale() -> None:
    assert format_date(date(2027, 1, 9)) == "9 January 2027"


# --- folder validation ------------------------------------------------------


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        PolicyBook(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValidationError, match="holds no policy"):
        PolicyBook(empty)

    mismatch = tmp_path / "mismatch"
    mismatch.mkdir()
    write(mismatch, 1, "2026-01-01", "One.")
    (mismatch / "v2.md").write_text(policy_text(3, "2026-06-01", "Three?"), encoding="utf-8")
    with pytest.raises(ValidationError, match="says version 3, its name says 2"):
        PolicyBook(mismatch)

    gap = tmp_path / "gap"
    gap.mkdir()
    write(gap, 1, "2026-01-01", "One.")
    write(gap, 3, "2026-06-01", "Three.")
    with pytest.raises(ValidationError, match=r"version 2 \(v2.md\) is missing"):
        PolicyBook(gap)

    order = tmp_path / "order"
    order.mkdir()
    write(order, 1, "2026-06-01", "One.")
    write(order, 2, "2026-06-01", "Two.")
    with pytest.raises(ValidationError, match="not after version 1"):
        PolicyBook(order)


def test_book_sees_files_changed_after_start(tmp_path: Path) -> None:
    folder = tmp_path / "live"
    folder.mkdir()
    write(folder, 1, "2026-01-01", "One.")
    book = PolicyBook(folder)
    assert book.latest().version == 1
    write(folder, 2, "2026-06-01", "Two.")  # e.g. `aicreative policy publish` from another process
    assert book.latest().version == 2


def test_from_settings_uses_policy_dir(folder: Path) -> None:
    from aicreative.config import Settings

    assert PolicyBook.from_settings(Settings(policy_dir="")).shipped
    book = PolicyBook.from_settings(Settings(policy_dir=str(folder)))
    assert book.folder == folder
    assert not book.shipped


# --- publishing -------------------------------------------------------------


def test_publish_writes_next_version(folder: Path, draft: Path) -> None:
    book = PolicyBook(folder)
    before = {p.name for p in folder.iterdir()}
    doc = book.publish(
        draft, date(2027, 2, 1), summary="Shorter and clearer.", today=date(2027, 1, 1)
    )
    assert doc.version == 2
    assert doc.effective == date(2027, 2, 1)
    assert doc.path == folder / "v2.md"
    assert {p.name for p in folder.iterdir()} == before | {"v2.md"}  # no temp file left
    assert parse_policy((folder / "v2.md").read_text(encoding="utf-8")) == doc
    assert book.latest() == doc
    assert book.upcoming(date(2027, 1, 15)) == doc
    assert (folder / "v2.md").stat().st_mode & 0o777 == 0o644

    draft.write_text("# Privacy Policy\n\nVersion three.\n", encoding="utf-8")
    third = book.publish(draft, date(2027, 3, 1), summary="Three.", today=date(2027, 1, 1))
    assert third.version == 3
    assert [d.version for d in PolicyBook(folder).versions()] == [1, 2, 3]


def test_publish_dry_run_writes_nothing(folder: Path, draft: Path) -> None:
    before = sorted(p.name for p in folder.iterdir())
    doc = PolicyBook(folder).publish(
        draft, date(2027, 2, 1), summary="Preview.", dry_run=True, today=date(2027, 1, 1)
    )
    assert doc.version == 2 and doc.path == folder / "v2.md"
    assert sorted(p.name for p in folder.iterdir()) == before


def test_publish_takes_summary_from_front_matter(folder: Path, tmp_path: Path) -> None:
    source = tmp_path / "with-fm.md"
    source.write_text(
        "---\nversion: 2\neffective: 2027-02-01\nsummary: From the file.\n---\n# Privacy Policy\n\nText.\n",
        encoding="utf-8",
    )
    book = PolicyBook(folder)
    assert (
        book.publish(source, date(2027, 2, 1), today=date(2027, 1, 1)).summary == "From the file."
    )
    source.write_text(
        "---\nsummary: Only a summary.\n---\n# Privacy Policy\n\nText.\n", encoding="utf-8"
    )
    doc = book.publish(
        source, date(2027, 3, 1), summary="The argument wins.", today=date(2027, 1, 1)
    )
    assert doc.version == 3 and doc.summary == "The argument wins."


@pytest.mark.parametrize(
    ("effective", "kwargs", "problem"),
    [
        (date(2026, 12, 31), {}, "is in the past"),
        (date(2027, 1, 1), {}, "no time to announce"),
        (date(2027, 1, 10), {"min_notice_days": 14}, "at least 14 day"),
        (date(2027, 2, 1), {"summary": "  "}, "summary is empty"),
        (date(2027, 2, 1), {"summary": "a\nb"}, "one line"),
    ],
)
def test_publish_refuses_bad_dates_and_summaries(
    folder: Path, draft: Path, effective: date, kwargs: dict[str, object], problem: str
) -> None:
    kwargs = {"summary": "Fine.", **kwargs}
    with pytest.raises(ValidationError, match=problem):
        PolicyBook(folder).publish(draft, effective, today=date(2027, 1, 1), **kwargs)  # type: ignore[arg-type]
    assert not (folder / "v2.md").exists()


def test_publish_allows_same_day_when_asked(folder: Path, draft: Path) -> None:
    doc = PolicyBook(folder).publish(
        draft,
        date(2027, 1, 1),
        summary="Now.",
        today=date(2027, 1, 1),
        min_notice_days=0,
        dry_run=True,
    )
    assert doc.effective == date(2027, 1, 1)


def test_publish_refuses_date_not_after_latest(folder: Path, draft: Path) -> None:
    with pytest.raises(ValidationError, match="must come after that of version 1"):
        PolicyBook(folder).publish(draft, V1_EFFECTIVE, summary="Same day.", today=date(2026, 1, 1))


def test_publish_refuses_missing_summary_and_conflicting_front_matter(
    folder: Path, draft: Path, tmp_path: Path
) -> None:
    book = PolicyBook(folder)
    with pytest.raises(ValidationError, match="summary of the change is needed"):
        book.publish(draft, date(2027, 2, 1), today=date(2027, 1, 1))
    wrong = tmp_path / "wrong.md"
    wrong.write_text("---\nversion: 5\nsummary: x\n---\n# P\n\nText.\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="next version is 2"):
        book.publish(wrong, date(2027, 2, 1), today=date(2027, 1, 1))
    wrong.write_text(
        "---\neffective: 2027-05-05\nsummary: x\n---\n# P\n\nText.\n", encoding="utf-8"
    )
    with pytest.raises(ValidationError, match="2027-02-01 was asked for"):
        book.publish(wrong, date(2027, 2, 1), today=date(2027, 1, 1))
    wrong.write_text("No heading at all.\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="'# '"):
        book.publish(wrong, date(2027, 2, 1), summary="x", today=date(2027, 1, 1))
    with pytest.raises(NotFound):
        book.publish(tmp_path / "missing.md", date(2027, 2, 1), summary="x", today=date(2027, 1, 1))
    assert sorted(p.name for p in folder.iterdir()) == ["v1.md"]


def test_publish_refuses_to_overwrite(folder: Path, draft: Path) -> None:
    book = PolicyBook(folder)
    doc = book.publish(
        draft, date(2027, 2, 1), summary="Two.", today=date(2027, 1, 1), dry_run=True
    )
    assert doc.path is not None
    # Another process wrote v2.md between our read and our write.
    doc.path.write_text(policy_text(2, "2027-02-01", "Theirs."), encoding="utf-8")
    other = PolicyBook(folder)
    with pytest.raises(ValidationError, match="already exists"):
        other._write(doc, doc.path)
    assert "Theirs." in doc.path.read_text(encoding="utf-8")


# --- announcement email ---------------------------------------------------------


def test_announcement_email(folder: Path, draft: Path) -> None:
    doc = PolicyBook(folder).publish(
        draft, date(2027, 2, 1), summary="Shorter.", today=date(2027, 1, 1), dry_run=True
    )
    subject, body = announcement_email(doc, "privacy@example.org", "https://ai.example/privacy")
    assert subject == "AI Creative privacy policy: version 2 takes effect on 1 February 2027"
    assert "Shorter." in body
    assert "https://ai.example/privacy" in body
    assert "after 1 February 2027, you agree" in body
    assert "delete your account" in body
    assert "privacy@example.org" in body and CONTACT_PLACEHOLDER not in body
    assert "Version two." in body  # the full text travels with it


# --- the shipped policy -----------------------------------------------------


def test_shipped_book_has_v1_in_force_from_its_date() -> None:
    book = PolicyBook()
    assert book.shipped
    v1 = book.get(1)
    assert v1.effective == V1_EFFECTIVE
    assert v1.summary == "First version of the policy."
    assert book.current(date(2026, 10, 31)) is None
    assert book.current(V1_EFFECTIVE) == v1
    for path in SHIPPED_DIR.glob("v*.md"):
        parse_policy(path.read_text(encoding="utf-8"), path)  # every shipped file is valid


# Each commitment of the mission policy, and how this product keeps it, must be said.
COMMITMENTS = {
    "minimal data: what is stored": [
        "username",
        "email address",
        "password hash",
        "credit balance",
        "role",
    ],
    "bookkeeping is disclosed": ["accepted", "session counter", "objected"],
    "nothing else is stored": ["Nothing else is stored"],
    "used only for": ["log you in", "credits", "technical support"],
    "images and prompts stay in the browser": [
        "in your browser",
        "IndexedDB",
        "never stored on our servers",
    ],
    "not in logs": ["never written to the server logs"],
    "only the user can access them": ["Only you can access them"],
    "kept until cleared": ["until you clear them"],
    "encryption in transit": ["HTTPS", "TLS", "HSTS"],
    "least access": ["Least access", "Admins see only username, email, credit"],
    "regular security checks": ["Regular security checks", "aicreative audit"],
    "one login cookie": ["one cookie", "logged in", "HttpOnly"],
    "no tracking cookies": ["tracking", "marketing", "analytics", "third-party"],
    "right to see": ["everything we store about you", "download"],
    "right to correct": ["Correct it", "correct"],
    "right to delete": ["Delete your account", "immediately", "at any time"],
    "right to object": ["Object to processing", "no emails except the ones you ask for", "notices"],
    "objecting to essential processing": ["essential processing", "delete your account"],
    "honoured by law, promptly": ["in accordance with the law", "as soon as possible"],
    "changes announced in advance": [
        "in advance",
        "notice on the site",
        "by email",
        "not objected",
    ],
    "continued use means agreement": [
        "keep using AI Creative after the effective",
        "agree",
        "record",
    ],
    "contact by email": ["email us", CONTACT_PLACEHOLDER],
}


@pytest.mark.parametrize("commitment", sorted(COMMITMENTS))
def test_shipped_v1_makes_each_commitment(commitment: str) -> None:
    text = " ".join(PolicyBook().get(1).text.split())  # join wrapped lines
    missing = [phrase for phrase in COMMITMENTS[commitment] if phrase not in text]
    assert not missing, f"v1.md does not say {missing} ({commitment})"


def test_shipped_v1_renders_with_contact_address() -> None:
    doc = PolicyBook().get(1)
    html = doc.html("privacy@example.org")
    assert '<a href="mailto:privacy@example.org">privacy@example.org</a>' in html
    assert CONTACT_PLACEHOLDER not in html
    assert html.startswith("<h1>Privacy Policy</h1>")
    assert isinstance(doc, PolicyDocument)


@pytest.mark.parametrize("commitment", sorted(COMMITMENTS))
def test_latest_shipped_version_keeps_each_commitment(commitment: str) -> None:
    text = " ".join(PolicyBook().latest().text.split())
    missing = [phrase for phrase in COMMITMENTS[commitment] if phrase not in text]
    assert not missing, f"the latest policy does not say {missing} ({commitment})"


def test_shipped_v2_says_a_finished_image_may_wait_in_memory_for_its_browser() -> None:
    """Issue 12: a paid result is held in memory until the browser has it; v2 says so."""
    from aicreative.config import MAX_DELIVERY_MINUTES, Settings

    book = PolicyBook()
    v2 = book.get(2)
    assert v2.effective > book.get(1).effective
    text = " ".join(v2.text.split())
    minutes = f"up to {MAX_DELIVERY_MINUTES:g} minutes"
    for phrase in ("in the server's memory", "never on disk", minutes, "refunded", "forgets"):
        assert phrase in text, phrase
    assert "in the server's memory" in v2.summary and "30 minutes" in v2.summary
    # The setting can only shorten what the policy promises.
    assert Settings().delivery_minutes <= MAX_DELIVERY_MINUTES
    with pytest.raises(ValidationError, match="at most 30"):
        Settings(delivery_minutes=MAX_DELIVERY_MINUTES + 1)
    # Announced before it takes effect: users of v1 see an "upcoming" notice.
    kinds = [n.kind for n in book.notices(v2.effective - timedelta(days=1), accepted_version=1)]
    assert kinds == ["upcoming"]
