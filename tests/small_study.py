"""A small hand-made study for figures that need exact small counts (half-up cases such as 1 of 8,
an exclusion after randomisation): the fixture study of tests/fixtures.py plus `extra` participants
randomised in Södermalm in 2023, alternating arms, with the genders given."""

from __future__ import annotations

from datetime import date, timedelta

from tests import fixtures as fx


def rows_with(genders: list[str], start: date = date(2023, 5, 2)) -> dict:
    """The fixture study plus one participant per entry of `genders` ("Man"/"Kvinna"); arms
    alternate IPS+TAU, TVR+TAU. Codes: letter E, the baseline date MMDD, M/K, two digits."""
    rows = fx.study_rows()
    for i, gender in enumerate(genders):
        day = start + timedelta(days=i)
        code = f"E{day:%m%d}{'K' if gender == 'Kvinna' else 'M'}{i + 10:02d}"
        fx.add_row(
            rows,
            "referrals",
            {
                "Studiekod": code,
                "Stadsdel": "Södermalm",
                "Remissdatum": day - timedelta(days=20),
                "Remitterande instans": "Ekonomiskt bistånd + vuxenenhet",
                "Informationsmöte": day - timedelta(days=15),
                "Motivationsskattning": "Tillräcklig",
                "Samtycke": day - timedelta(days=10),
                "Inskrivningssamtal": day - timedelta(days=5),
                "Baslinje": day,
            },
        )
        fx.add_row(
            rows,
            "randomisations",
            {
                "Studiekod": code,
                "Randomiseringsdatum": day + timedelta(days=1),
                "Grupp": "IPS+TAU" if i % 2 == 0 else "TVR+TAU",
                "Stratum": "Södermalm",
            },
        )
        fx.add_row(
            rows,
            "baseline",
            {"Studiekod": code, "Baslinjedatum": day, "Kön": gender, "Födelseår": 1980 + i % 20},
        )
    return rows
