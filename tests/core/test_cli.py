"""The command dispatcher: help, version, user errors become exit code 2 without a traceback."""
from __future__ import annotations

import argparse
import logging

import pytest

from geovpr import cli
from geovpr.errors import DataError


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert "geovpr" in capsys.readouterr().out


def test_user_error_is_exit_2_with_message(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def fake_parser() -> argparse.ArgumentParser:
        p = argparse.ArgumentParser()
        p.add_argument("-v", "--verbose", action="count", default=0)
        p.add_argument("-q", "--quiet", action="store_true")
        p.add_argument("--log-file", default=None)

        def boom(args: argparse.Namespace) -> int:
            raise DataError("data.csv: row 7 has no place_id")

        p.set_defaults(func=boom)
        return p

    monkeypatch.setattr(cli, "build_parser", fake_parser)
    logging.getLogger("geovpr").propagate = True
    with caplog.at_level(logging.ERROR, logger="geovpr"):
        assert cli.main([]) == 2
    assert "data.csv: row 7 has no place_id" in caplog.text
