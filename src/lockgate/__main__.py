"""``python -m lockgate``: the ``lockgate`` command."""

from lockgate.cli import main

main()
