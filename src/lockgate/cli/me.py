"""``lockgate me``: who you are — email, role, capabilities, teams and gateways — as ``me get``
answers it; ``lockgate me get`` is that operation's generated command."""

from __future__ import annotations

from typing import Annotated

import typer

from lockgate.api.table import BY_ID
from lockgate.cli.context import call
from lockgate.cli.operations import OUTPUT_HELP
from lockgate.cli.output import ReplyFormat, show_reply

HELP = "Who you are: your email, role, capabilities, teams and gateways (as `me get` answers it)."


def me(
    ctx: typer.Context,
    output: Annotated[ReplyFormat, typer.Option("--output", "-o", help=OUTPUT_HELP)] = "table",
) -> None:
    """Show ``me get``'s answer; does nothing before a subcommand."""
    if ctx.invoked_subcommand is None:
        show_reply(BY_ID["me_get"], call(ctx, BY_ID["me_get"], {}), output)
