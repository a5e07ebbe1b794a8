"""Package metadata: licence, one version source, core dependencies and extras (issue 12 item 4)."""
import tomllib
from pathlib import Path

import geovpr
from geovpr.version import __version__

ROOT = Path(__file__).resolve().parents[2]
CORE = {"torch", "numpy", "scipy", "pillow", "safetensors", "tqdm", "pyyaml"}


def _name(requirement: str) -> str:
    for sep in "<>=![; ":
        requirement = requirement.split(sep)[0]
    return requirement.strip().lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_licence_file_and_pep639_metadata():
    project = _project()
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639: the expression only


def test_one_version_source():
    project = _project()
    assert "version" not in project and project["dynamic"] == ["version"]
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "geovpr.version.__version__"}
    assert geovpr.__version__ == __version__


def test_core_dependencies_and_extras():
    project = _project()
    assert {_name(r) for r in project["dependencies"]} == CORE
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    assert extras["train"] >= {"pytorch-lightning", "pytorch-metric-learning", "pandas"}
    assert extras["faiss"] == {"faiss-cpu"}
    assert extras["plots"] == {"matplotlib"}
    assert project["optional-dependencies"]["all"] == ["geovpr[train,faiss,plots]"]
    assert "geovpr[all]" in project["optional-dependencies"]["dev"]


def test_typed_marker_shipped():
    assert (ROOT / "src" / "geovpr" / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["geovpr"]


def test_setup_installs_everything():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert '-e ".[dev]"' in setup  # dev pulls in all extras, so the README's two commands are unchanged
