"""The command groups generated from the operation table (``cli/operations.py``), with the
commands written by hand that join them (``users set-password``, ``rules test``, the ``logs`` and
``me`` views) and the hidden ``token`` alias of the ``tokens`` group. The root
(``cli/__init__.py``) loads this module only when one of these groups is invoked or its help is
asked for."""

from __future__ import annotations

from lockgate.api.table import OPERATIONS
from lockgate.cli import logs, me, passwords, rules_test
from lockgate.cli.lookups import Lookup
from lockgate.cli.operations import build_groups

LOOKUPS = {"connections": Lookup("connection", ("host", "gateway", "user"))}

GROUPS = build_groups(  # the declaration operations are plan, apply and export, with files
    [op for op in OPERATIONS if op.group != "declaration"], lookups=LOOKUPS
)
GROUPS["users"].command("set-password")(passwords.set_password)
GROUPS["rules"].command("test")(rules_test.test)
GROUPS["logs"].callback(
    invoke_without_command=True,
    no_args_is_help=False,
    subcommand_metavar="[COMMAND [ARGS]...]",
    help=logs.HELP,
)(logs.logs)
GROUPS["me"].callback(
    invoke_without_command=True, no_args_is_help=False, subcommand_metavar="[COMMAND [ARGS]...]", help=me.HELP
)(me.me)
GROUPS["token"] = build_groups([op for op in OPERATIONS if op.group == "tokens"], positional=False)["tokens"]
