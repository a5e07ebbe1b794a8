"""What every ``geovpr`` parser shares: help format and the logging options, applied once to the tree.

:func:`finish` walks the parser of ``geovpr`` and every sub-command below it:

* ``-v/--verbose``, ``-q/--quiet`` and ``--log-file`` are accepted after the
  sub-command too (``geovpr eval ... -v``), not only before it;
* help shows each option's default (when it has a meaningful one) and keeps the
  line breaks of the descriptions (examples stay readable);
* help is plain text: reStructuredText markup (````code````, ``::``) is removed.
"""
from __future__ import annotations

import argparse
import logging
import re
from typing import Any, Iterator

log = logging.getLogger("geovpr.cli")
_RST_LITERAL = re.compile(r"``([^`]*)``")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written; ``(default: X)`` after options whose default means something."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS, []) or "default" in text.lower():
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text
        return text + " (default: %(default)s)"


def plain(text: str | None) -> str | None:
    """``text`` without reStructuredText literals (````x```` -> ``x``) and literal-block markers (``::``)."""
    if text is None:
        return None
    text = _RST_LITERAL.sub(r"\1", text)
    return re.sub(r"::(\s*\n)", r":\1", text)


def add_logging_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``-v``, ``-q``, ``--log-file``; below the top parser they default to "not given" (the top's value stays)."""
    keep = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("-v", "--verbose", action="count", help="more log output (-v: debug)",
                        **({"default": 0} if top else keep))
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors",
                        **({"default": False} if top else keep))
    parser.add_argument("--log-file", metavar="FILE", help="also write the log to this file",
                        **({"default": None} if top else keep))


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    seen: set[int] = set()
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if id(child) not in seen:
                    seen.add(id(child))
                    yield child


def finish(parser: argparse.ArgumentParser, *, top: bool = True) -> None:
    """Apply the shared help format and logging options to ``parser`` and all its sub-commands."""
    parser.formatter_class = HelpFormatter
    parser.description = plain(parser.description)
    parser.epilog = plain(parser.epilog)
    for action in parser._actions:
        action.help = plain(action.help) if action.help is not argparse.SUPPRESS else action.help
    if not top and "--log-file" not in parser._option_string_actions:
        add_logging_options(parser)
    for child in _subparsers(parser):
        finish(child, top=False)


class DeprecatedAlias(argparse.Action):
    """An old option name kept for one release: sets the new option's value and logs a warning."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        log.warning("%s is deprecated and will be removed in the next release; use %s", option_string, self.new)
        setattr(namespace, self.dest, values)
