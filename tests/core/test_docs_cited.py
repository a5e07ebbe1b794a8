"""Every document the code, recipes and README cite is in the repository (docs/)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["src", "benchmarks", "tests", "README.md", "docs"]
OUTSIDE = ("reference-spec", "papers.md", "cpu-notes.md", "../shared/docs")


def _texts():
    for entry in SCANNED:
        path = ROOT / entry
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".py", ".md", ".yaml"))
        for f in files:
            if f != Path(__file__).resolve():
                yield f, f.read_text(encoding="utf-8")


def test_cited_docs_exist_and_no_outside_documents():
    missing, outside = [], []
    for f, text in _texts():
        for name in re.findall(r"docs/([\w.-]+\.md)", text):
            if not (ROOT / "docs" / name).is_file():
                missing.append(f"{f.relative_to(ROOT)}: docs/{name}")
        outside += [f"{f.relative_to(ROOT)}: {o}" for o in OUTSIDE if o in text]
    assert not missing, f"cited documents not in docs/: {missing}"
    assert not outside, f"citations of documents outside the repository: {outside}"
