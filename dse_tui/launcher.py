"""`dse`: with a command, the CLI; with none, the TUI under its terminal guard.

The one module above both front ends, so that neither imports the other.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from dse_tui import cli

    args = cli.parse(argv)
    if isinstance(args, int):
        return args
    if args.command is not None:
        return cli.run(args)
    from dse_tui.terminal_guard import run_guarded

    def tui() -> int:
        from dse_tui.app import run_app

        return run_app(home=args.home)

    return run_guarded(tui)
