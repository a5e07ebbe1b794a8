"""``geovpr train --recipe NAME|FILE [key=value ...] [--out DIR]``: train (or resume) a model from a recipe.

``--recipe`` takes a shipped recipe name (``geovpr train --list-recipes``) or a YAML path.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from geovpr.errors import ConfigError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model from a recipe (resumes from OUT/checkpoints/last.ckpt when present)",
        description="Train a VPR model as a YAML recipe says. Overrides use dotted keys, e.g. "
        "data.sources.gsv.path=/data/gsv_cities train.lr=1e-4 variant=vitl_ih. Re-running the same "
        "command after an interruption resumes from the last checkpoint.",
    )
    parser.add_argument("--recipe", default=None, metavar="NAME|PATH",
                        help="a shipped recipe name (see --list-recipes) or a recipe YAML file")
    parser.add_argument("--list-recipes", action="store_true", help="list the shipped recipes and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides (dotted keys)")
    parser.add_argument("--out", default=None, help="output folder (default: runs/<recipe name>)")
    parser.add_argument("--print-recipe", action="store_true", help="print the resolved recipe and exit")
    parser.set_defaults(func=run)


def default_out(name: object) -> Path:
    """``runs/<name>``; a recipe ``name`` must be one plain folder name, so the output stays under ``runs/``."""
    text = str(name)
    if not text or text in (".", "..") or "/" in text or "\\" in text or Path(text).is_absolute() or "\0" in text:
        raise ConfigError(f"recipe name {text!r} is not a plain folder name; it names the default output "
                          "folder runs/<name> (or pass --out)")
    return Path("runs") / text


def list_recipes_text() -> str:
    """One line per shipped recipe: its name and the first line of its comment."""
    from geovpr.recipes import list_recipes, recipe_summary

    names = list_recipes()
    width = max(len(n) for n in names)
    return "\n".join(f"{n.ljust(width)}  {recipe_summary(n)}" for n in names)


def run(args: argparse.Namespace) -> int:
    from geovpr.train.recipe import resolve_recipe

    if args.list_recipes:
        print(list_recipes_text())
        return 0
    if not args.recipe:
        raise ConfigError("geovpr train needs --recipe NAME|PATH (shipped names: geovpr train --list-recipes)")

    recipe = resolve_recipe(args.recipe, args.overrides)
    if args.print_recipe:
        import yaml

        print(yaml.safe_dump(json.loads(json.dumps(recipe.raw, default=str)), sort_keys=False), end="")
        return 0
    from geovpr.train.api import fit

    out = Path(args.out) if args.out else default_out(recipe.name)
    result = fit(args.recipe, out, overrides=args.overrides)
    log.info("model written to %s", out / "model")
    for name, res in result.metrics.items():
        if isinstance(res, dict) and "recall" in res:
            print(name + "\t" + "\t".join(f"R@{k} {100 * float(v):.2f}" for k, v in res["recall"].items()))
    return 0
