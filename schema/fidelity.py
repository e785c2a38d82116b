"""The IPS fidelity scale's published rules that figures are scored by: item 1's caseload bands.

The bands are data (`fidelity_caseload.toml`, with the source they come from), read once; pages,
the PDF and the workbook all score and label through the functions here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

BANDS_FILE = Path(__file__).with_name("fidelity_caseload.toml")


@dataclass(frozen=True)
class CaseloadBand:
    score: int
    low: int | None  # lowest whole caseload in the band (None: from 0)
    high: int | None  # highest caseload in the band (None: no upper limit)

    @property
    def range_text(self) -> str:
        if self.low is None:
            return f"≤ {self.high}"
        if self.high is None:
            return f"≥ {self.low}"
        return f"{self.low}–{self.high}"

    @property
    def label(self) -> str:
        return f"{self.score} p ({self.range_text})"


@dataclass(frozen=True)
class CaseloadScale:
    item: str
    unit: str
    source: str
    bands: tuple[CaseloadBand, ...]  # best score first

    def score(self, per_fte: float) -> int:
        """Item-1 score for a caseload scaled to full time."""
        for band in self.bands:
            if band.high is None or per_fte <= band.high:
                return band.score
        raise AssertionError("the last band has no upper limit")

    def band(self, score: int) -> CaseloadBand:
        return next(b for b in self.bands if b.score == score)

    def text(self, score: int) -> str:
        """'4 p (21–25 per heltid)'."""
        return f"{score} p ({self.band(score).range_text} per heltid)"


@cache
def caseload_scale(path: Path = BANDS_FILE) -> CaseloadScale:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    rows = sorted(data["bands"], key=lambda b: b["highest"])
    bands: list[CaseloadBand] = []
    previous: int | None = None
    for row in rows:
        bands.append(CaseloadBand(int(row["score"]), None if previous is None else previous + 1, int(row["highest"])))
        previous = int(row["highest"])
    bands.append(CaseloadBand(int(data["lowest_score"]), (previous or 0) + 1, None))
    scores = [b.score for b in bands]
    if scores != sorted(scores, reverse=True) or len(set(scores)) != len(scores):
        raise ValueError(f"{path.name}: poängen ska sjunka band för band")
    return CaseloadScale(data["item"], data["unit"], " ".join(data["source"].split()), tuple(bands))
