"""The ``aicreative`` command for operators.

Owns the command line: ``serve``, ``users`` (add, list, delete, promote,
demote), ``credits grant``, ``policy publish``, ``store migrate`` and ``audit``. Each command
builds its Studio from the environment's settings; nothing runs at import.
Errors print one clear line and exit with status 1 (2 for usage).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .config import Settings
from .errors import AICreativeError


def _studio(settings: Settings, model: bool = False):  # type: ignore[no-untyped-def]
    """A Studio for account work; it loads no model unless asked."""
    from .backends.demo import DemoBackend
    from .studio import Studio

    return Studio.from_settings(settings, backend=None if model else DemoBackend())


def _read_password(stdin: TextIO) -> str:
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise AICreativeError("The passwords do not match.")
        return first
    return stdin.readline().rstrip("\n")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .web import serve

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if args.ssl_certfile:
        settings.ssl_certfile = args.ssl_certfile
    if args.ssl_keyfile:
        settings.ssl_keyfile = args.ssl_keyfile
    serve(settings)
    return 0


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    studio = _studio(settings)
    password = _read_password(args.stdin)
    # The operator vouches for the address: no confirmation link, credits at once.
    account = studio.signup(args.name, args.email, password, confirmed=True)
    if args.admin:
        account = studio.set_role(account.username, "admin")
    print(f"Added {account.username} <{account.email}> with {account.credits} credits.")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    studio = _studio(settings)
    accounts = studio.store.all()
    print(f"{'username':32} {'email':40} {'credits':>7} {'role':6} objected")
    for account in accounts:
        print(
            f"{account.username:32} {account.email:40} {account.credits:>7} "
            f"{studio.role_of(account):6} {'yes' if account.objected else 'no'}"
        )
    print(f"{len(accounts)} account(s).")
    return 0


def cmd_users_delete(args: argparse.Namespace, settings: Settings) -> int:
    studio = _studio(settings)
    studio.delete_account_now(args.name)
    print(f"Deleted {args.name}; every session of it has ended.")
    return 0


def cmd_users_role(args: argparse.Namespace, settings: Settings) -> int:
    studio = _studio(settings)
    role = "admin" if args.users_command == "promote" else "user"
    account = studio.set_role(args.name, role)
    print(f"{account.username} is now {'an admin' if role == 'admin' else 'a user'}.")
    if role == "user" and account.username.lower() in settings.admin_usernames:
        print(
            "Note: AICREATIVE_ADMIN_USERNAMES lists them: remove them from it, or the next "
            "server start makes them an admin again."
        )
    return 0


def cmd_credits_grant(args: argparse.Namespace, settings: Settings) -> int:
    studio = _studio(settings)
    if args.amount >= 0:
        balance = studio.grant(args.name, args.amount)
    else:
        balance = studio.take(args.name, -args.amount)
    print(f"{args.name} now has {balance} credits.")
    return 0


def cmd_policy_publish(args: argparse.Namespace, settings: Settings) -> int:
    studio = _studio(settings)
    effective = _date(args.effective)
    doc, sent = studio.publish_policy(
        Path(args.file), effective, summary=args.summary, dry_run=args.dry_run
    )
    if args.dry_run:
        print(f"Valid: would publish version {doc.version}, effective {doc.effective}.")
    else:
        print(
            f"Published version {doc.version}, effective {doc.effective}; emailed {sent} user(s)."
        )
    return 0


def cmd_policy_list(args: argparse.Namespace, settings: Settings) -> int:
    from .policy import PolicyBook

    book = PolicyBook(settings.policy_dir or None)
    current = book.current()
    for doc in book.versions():
        mark = " (in force)" if current and doc.version == current.version else ""
        print(f"v{doc.version}  effective {doc.effective}{mark}  {doc.summary}")
    return 0


def cmd_store_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from .store.postgres_schema import redact
    from .store.transfer import copy_to_postgres

    source = Path(args.source) if args.source else settings.store_path
    report = copy_to_postgres(source, args.to, replace=args.replace)
    where = redact(args.to)
    if report.already_there:
        print(f"{where} already holds this store ({report.target}); nothing to copy.")
    else:
        print(f"Copied {report.copied} account(s) from {source} to {where}.")
        print(f"Verified: file {report.source}; database {report.target}.")
    print("Next: stop the app, set AICREATIVE_DATABASE_URL to this URL, start it again.")
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from .audit import run_audit
    from .web.audit_ui import ui_problems

    return run_audit(settings, out=sys.stdout, inspect_ui=ui_problems)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise AICreativeError(f"{text!r} is not a date of the form YYYY-MM-DD.") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aicreative",
        description="AI Creative: run the server and manage accounts, credits and the policy.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the web app")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 7860)")
    serve.add_argument("--ssl-certfile", help="TLS certificate: serve HTTPS")
    serve.add_argument("--ssl-keyfile", help="TLS private key")
    serve.set_defaults(func=cmd_serve)

    users = sub.add_parser("users", help="manage accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add an account (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--email", required=True)
    add.add_argument("--admin", action="store_true", help="give the admin role")
    add.set_defaults(func=cmd_users_add)
    users_sub.add_parser("list", help="list accounts").set_defaults(func=cmd_users_list)
    delete = users_sub.add_parser("delete", help="delete an account now")
    delete.add_argument("name")
    delete.set_defaults(func=cmd_users_delete)
    for verb in ("promote", "demote"):
        p = users_sub.add_parser(
            verb, help=f"{verb} an account {'to' if verb == 'promote' else 'from'} admin"
        )
        p.add_argument("name")
        p.set_defaults(func=cmd_users_role)

    credits = sub.add_parser("credits", help="manage credits")
    credits_sub = credits.add_subparsers(dest="credits_command", required=True)
    grant = credits_sub.add_parser("grant", help="give (or, negative, remove) credits")
    grant.add_argument("name")
    grant.add_argument("amount", type=int)
    grant.set_defaults(func=cmd_credits_grant)

    policy = sub.add_parser("policy", help="privacy policy versions")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    publish = policy_sub.add_parser("publish", help="add the next policy version")
    publish.add_argument("file")
    publish.add_argument("--effective", required=True, help="YYYY-MM-DD, in the future")
    publish.add_argument("--summary", help="one line on what changed (or in the file)")
    publish.add_argument("--dry-run", action="store_true", help="validate only")
    publish.set_defaults(func=cmd_policy_publish)
    policy_sub.add_parser("list", help="list versions").set_defaults(func=cmd_policy_list)

    store = sub.add_parser("store", help="the account store")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    migrate = store_sub.add_parser(
        "migrate", help="copy the account file into PostgreSQL (verified; safe to repeat)"
    )
    migrate.add_argument("--to", required=True, help="postgresql://user@host/database")
    migrate.add_argument("--from", dest="source", help="account file (default: the data dir's)")
    migrate.add_argument(
        "--replace",
        action="store_true",
        help="delete what the database holds first (refused without it when not empty)",
    )
    migrate.set_defaults(func=cmd_store_migrate)

    audit = sub.add_parser("audit", help="check this deployment's security and privacy")
    audit.set_defaults(func=cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None) -> int:
    """Entry point of the ``aicreative`` console script."""
    import logging

    parser = build_parser()
    args = parser.parse_args(argv)
    args.stdin = stdin or sys.stdin
    try:
        settings = Settings.from_env()
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
        )
        return int(args.func(args, settings))
    except AICreativeError as exc:
        print(f"aicreative: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
