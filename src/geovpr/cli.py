"""The ``geovpr`` command: ``train | eval | index | query | gds | models | demo``.

Each subcommand lives in ``geovpr.commands.<name>`` and exposes
``register(subparsers) -> None``, which adds its parser and sets
``func=run`` (``run(args) -> int``). A user-fixable error
(:class:`geovpr.errors.GeovprError`) prints one clear line and exits 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from geovpr.version import __version__
from geovpr.errors import GeovprError
from geovpr.logging_setup import setup_logging
from geovpr.provenance import command_line

COMMANDS = ("train", "eval", "index", "query", "gds", "models", "demo")
log = logging.getLogger("geovpr.cli")


def build_parser() -> argparse.ArgumentParser:
    from geovpr.commands import _parsers

    parser = argparse.ArgumentParser(prog="geovpr", description="Visual Place Recognition with geographic mining.")
    parser.add_argument("--version", action="version", version=f"geovpr {__version__}")
    _parsers.add_logging_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"geovpr.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"geovpr.commands.{name}":
                continue
            raise
        module.register(sub)
    _parsers.finish(parser)  # -v/-q/--log-file after any sub-command, defaults shown, plain-text help
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(-1 if args.quiet else args.verbose, args.log_file)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        with command_line(["geovpr", *(sys.argv[1:] if argv is None else argv)]):
            return int(args.func(args) or 0)
    except GeovprError as exc:
        log.error("%s", exc)
        return 2
    except ModuleNotFoundError as exc:  # an optional extra (train, faiss, plots) is not installed
        from geovpr._optional import missing_extra

        error = missing_extra(exc, f"geovpr {args.command}")
        if error is None:
            raise
        log.error("%s", error)
        return 2
    except OSError as exc:  # a file or folder the user named cannot be used (exists, no permission, disk full)
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
