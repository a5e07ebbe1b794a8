"""One consistent command line (issue 12 item 2): logging options anywhere, defaults in help, plain text."""
import argparse
import logging

import pytest

from geovpr.cli import build_parser
from geovpr.commands._parsers import DeprecatedAlias, _subparsers, plain


def _all_parsers(parser=None):
    parser = parser or build_parser()
    yield parser
    for child in _subparsers(parser):
        yield from _all_parsers(child)


@pytest.mark.parametrize("argv, verbose, quiet, log_file", [
    (["eval", "--data", "d", "--model", "pixels"], 0, False, None),
    (["-v", "eval", "--data", "d", "--model", "pixels"], 1, False, None),
    (["eval", "--data", "d", "--model", "pixels", "-v", "-v"], 2, False, None),
    (["-v", "eval", "--data", "d", "--model", "pixels", "-q"], 1, True, None),
    (["index", "build", "--model", "pixels", "--images", "i", "--out", "o", "--log-file", "l.txt"], 0, False, "l.txt"),
    (["--log-file", "a.txt", "query", "--index", "i", "--out", "o.json", "q.jpg"], 0, False, "a.txt"),
])
def test_logging_options_before_or_after_the_command(argv, verbose, quiet, log_file):
    args = build_parser().parse_args(argv)
    assert (args.verbose, args.quiet, args.log_file) == (verbose, quiet, log_file)


def test_every_parser_has_plain_help_with_defaults():
    parsers = list(_all_parsers())
    assert len(parsers) >= 10  # geovpr, 7 commands, index build/add/info
    for p in parsers:
        text = p.format_help()
        assert "``" not in text, p.prog
        if p.prog != "geovpr":
            assert "--log-file" in text, p.prog
    gds = next(p for p in parsers if p.prog == "geovpr gds")
    assert "curve range in metres (default: 100.0)" in " ".join(gds.format_help().split())


def test_plain_text():
    assert plain("``geovpr eval`` writes ``x``::\n\n    cmd") == "geovpr eval writes x:\n\n    cmd"


def test_deprecated_alias_warns_and_sets_the_new_option(caplog):
    p = argparse.ArgumentParser()
    p.add_argument("--radius", type=float, default=25.0)
    p.add_argument("--old-radius", dest="radius", type=float, action=DeprecatedAlias, new="--radius")
    with caplog.at_level(logging.WARNING, logger="geovpr"):
        assert p.parse_args(["--old-radius", "10"]).radius == 10.0
    assert "--old-radius is deprecated and will be removed in the next release; use --radius" in caplog.text
    assert p.parse_args([]).radius == 25.0


def test_eval_radius_and_its_deprecated_alias(caplog):
    parse = build_parser().parse_args
    assert parse(["eval", "--data", "d", "--model", "pixels"]).positive_radius == 25.0
    assert parse(["eval", "--data", "d", "--model", "pixels", "--radius", "10"]).positive_radius == 10.0
    with caplog.at_level(logging.WARNING, logger="geovpr"):
        assert parse(["eval", "--data", "d", "--model", "pixels", "--positive-radius", "7"]).positive_radius == 7.0
    assert "--positive-radius is deprecated" in caplog.text


ENCODER_FLAGS = ["--device", "cpu", "--batch-size", "3", "--num-workers", "1", "--image-size", "64", "--autocast",
                 "bfloat16", "--head-mode", "batch", "--no-progress", "--backbone-weights", "w.pth", "--random-init"]


@pytest.mark.parametrize("argv", [
    ["eval", "--data", "d", "--model", "m"],
    ["gds", "--data", "d", "--model", "m", "--out", "o"],
    ["index", "build", "--model", "m", "--images", "i", "--out", "o"],
    ["index", "add", "--index", "x", "--images", "i"],
    ["query", "--index", "x", "--out", "o.json", "q.jpg"],
])
def test_every_encoding_command_takes_the_same_encoder_flags(argv):
    args = build_parser().parse_args(argv + ENCODER_FLAGS)
    got = (args.device, args.batch_size, args.num_workers, args.image_size, args.autocast, args.head_mode,
           args.no_progress, args.backbone_weights, args.random_init)
    assert got == ("cpu", 3, 1, [64], "bfloat16", "batch", True, "w.pth", True)


def test_image_size_one_value_is_the_shorter_side():
    from geovpr.commands._common import input_size
    from geovpr.errors import ConfigError

    assert input_size((24, 32), [48]) == (48, 64)
    assert input_size((322, 322), [224]) == (224, 224)
    assert input_size((30, 20), [10]) == (15, 10)
    assert input_size((322, 322), [200, 300]) == (200, 300)
    assert input_size((322, 322), None) is None
    for bad in ([1, 2, 3], [0], [5, -1]):
        with pytest.raises(ConfigError, match="--image-size"):
            input_size((322, 322), bad)
