"""Named evaluation protocols: which files, which roles, how many images.

Benchmarks circulate in several incompatible variants (Nordland with 2 760 or
27 592 queries, MSLS-val with 740 or ~11 k queries, ...), and a paper's number
is only comparable within one variant. A :class:`Protocol` pins the variant:
the expected query and database counts (checked when the set is loaded — a
mismatch is a :class:`~geovpr.errors.DataError`), the positive rule, and, for
the ``.npy`` format, the file-name prefix. See ``docs/reference-notes.md`` §5.2.
"""
from __future__ import annotations

from dataclasses import dataclass

from geovpr.errors import ConfigError


@dataclass(frozen=True)
class Protocol:
    """One benchmark variant. ``npy_prefix`` names ``<prefix>_{dbImages,qImages,gt}.npy``."""

    name: str
    num_queries: int
    num_database: int | None
    positives: str
    npy_prefix: str | None = None
    description: str = ""
    # SAGE's per-dataset inference batch size for its cross-image InteractHead
    # (reference ``config.py``), used by ``geovpr eval --head-mode batch``.
    interact_batch_size: int = 8


_ALL = (
    Protocol("nordland_2760", 2760, 27592, "gt.npy: db index within +-1 of 10*i (VPR-Bench/gsv-cities)", "Nordland",
             "Nordland* of CliqueMining/SALAD/BoQ: 2 760 summer queries vs 27 592 winter references", interact_batch_size=26),
    Protocol("nordland_27592", 27592, 27592, "25 m on mock UTM (+-10 frames)", None,
             "Nordland** of VPR-datasets-downloader/SAGE: 27 592 winter queries vs summer database", interact_batch_size=26),
    Protocol("sped", 607, 607, "same index (gt.npy or mock UTM 1000 m apart)", "SPED", "SPED test", interact_batch_size=2),
    Protocol("msls_val", 740, 18871, "pIdx.npy (MSLS 25 m); only queries with positives", "msls_val",
             "MSLS val, cph + sf, the 740 evaluated queries", interact_batch_size=16),
    Protocol("pitts30k_test", 6816, 10000, "25 m", "pitts30k_test", "Pittsburgh 30k test"),
    Protocol("pitts30k_val", 7608, 10000, "25 m", "pitts30k_val", "Pittsburgh 30k val"),
    Protocol("pitts250k_test", 8280, 83952, "25 m", "pitts250k_test", "Pittsburgh 250k test"),
    Protocol("tokyo247", 315, 75984, "25 m", None, "Tokyo 24/7", interact_batch_size=16),
    Protocol("crossseason", 191, 191, "gt.npy", "CrossSeason", "CrossSeason (gsv-cities extras)"),
    Protocol("essex3in1", 210, 210, "gt.npy (same index)", "ESSEX", "ESSEX3IN1 (gsv-cities extras)"),
    Protocol("inria_holidays", 300, 512, "gt.npy", "Inria", "INRIA Holidays (gsv-cities extras)"),
    Protocol("corridor", 111, 111, "ground_truth_new.npy: ref i-2..i+2", None, "Corridor (Milford 2013, VPR-Bench)"),
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in _ALL}


def get_protocol(name: str | Protocol | None) -> Protocol | None:
    """The protocol called ``name`` (case-insensitive, ``-`` = ``_``); ``None`` passes through."""
    if name is None or isinstance(name, Protocol):
        return name
    key = name.strip().lower().replace("-", "_")
    if key not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(sorted(PROTOCOLS))}")
    return PROTOCOLS[key]
