"""The study's outcomes by arm (seed 000, "Utfallsmått och indikatorer"), as pure functions over
the outcome views. Only reachable once the study is closed: `load` asks the gate first, and the gate
has no outcome views before that. Never cached (a close must show at once, a lock never be served
from a cache).

Definitions (shown on the Utfall page as well):

- time in study: randomisation to leaving the study, or to the data cut-off;
- days to first employer contact / to employment: first `employer_contact` / `job_start` on or after
  randomisation (and by the cut-off), minus the randomisation date;
- worked at least one day: a `job_start` (internships and studies do not count) or `worked_any`
  = yes at any follow-up;
- days worked relative to time in study: the follow-ups' `days_worked` summed, divided by the days
  in study;
- continuous work: one employment lasting at least 90 days (to its end date, else to the end of
  the person's time in study);
- number of jobs: `job_start` rows; extent: those jobs by full / part time;
- income, benefits: summed over the follow-ups reported; ASI employment change: last reported
  follow-up minus the first.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pandas as pd

from dashboard import queries as q
from dashboard.access import Gate
from schema import rounding

CONTINUOUS_DAYS = 90

SUMMARY_LABELS = {
    "arm": "Grupp",
    "n": "Randomiserade",
    "contact_n": "Fått arbetsgivarkontakt",
    "contact_median_days": "Dagar till första arbetsgivarkontakt (median)",
    "job_n": "Fått anställning",
    "job_median_days": "Dagar till anställning (median)",
    "worked_n": "Arbetat minst en dag",
    "continuous_n": f"Arbetat minst {CONTINUOUS_DAYS} dagar i sträck",
    "jobs_total": "Antal anställningar",
    "full_time_jobs": "varav heltid",
    "part_time_jobs": "varav deltid",
    "days_worked_share_mean": "Arbetade dagar / dagar i studien (medel, %)",
    "income_mean": "Arbetsinkomst per deltagare (medel, kr)",
    "benefits_mean": "Bistånd per deltagare (medel, kr)",
    "asi_change_mean": "Förändring ASI arbete (medel)",
}
SUMMARY_COUNTS = [
    "n",
    "contact_n",
    "job_n",
    "worked_n",
    "continuous_n",
    "jobs_total",
    "full_time_jobs",
    "part_time_jobs",
]
TIMEPOINT_LABELS = {
    "arm": "Grupp",
    "timepoint_months": "Månad",
    "reported_n": "Rapporterade",
    "worked_n": "Arbetat minst en dag",
    "hours_mean": "Arbetade timmar (medel)",
    "income_mean": "Arbetsinkomst (medel, kr)",
    "benefits_mean": "Bistånd (medel, kr)",
    "asi_mean": "ASI arbete (medel)",
}
TIMEPOINT_COUNTS = ["reported_n", "worked_n"]


def _mean(values: pd.Series, digits: int, scale: int = 1) -> float | int | None:
    """`scale` × the mean of the non-missing values, rounded half up in exact arithmetic
    (schema/rounding.py): each value is read as the decimal it prints as (amounts and scores come
    from the files as decimals), summed as fractions, so 100.5 shows as 101, never 100."""
    items = [rounding.exact(v) for v in values.dropna()]
    if not items:
        return None
    exact = scale * sum(items, start=Fraction(0)) / len(items)
    return rounding.round_int(exact) if digits == 0 else rounding.round_float(exact, digits)


def _median(values: pd.Series) -> float | None:
    """The median of whole days: a whole number or a half, exact as a float (no rounding needed)."""
    items = values.dropna()
    return float(items.median()) if len(items) else None


def load(gate: Gate, districts: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Participants, activity and employment rows of the chosen districts (refused while locked)."""
    return q.outcome_rows(gate, districts)


def _day(value) -> date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def per_participant(
    people: pd.DataFrame, activity: pd.DataFrame, employment: pd.DataFrame, cutoff: date
) -> pd.DataFrame:
    """One row per randomised participant with every outcome measure."""
    acts: dict[str, list[dict]] = {}
    for row in activity.to_dict("records"):
        acts.setdefault(row["study_code"], []).append(row)
    emps: dict[str, list[dict]] = {}
    for row in employment.to_dict("records"):
        emps.setdefault(row["study_code"], []).append(row)
    out = []
    for p in people.to_dict("records"):
        randomised = _day(p["randomised_on"])
        left = _day(p.get("left_on"))
        end = min(left, cutoff) if left else cutoff
        in_study = max((end - randomised).days, 0)
        mine = [a for a in acts.get(p["study_code"], []) if randomised <= _day(a["activity_on"]) <= cutoff]
        contacts = sorted(_day(a["activity_on"]) for a in mine if a["activity_type"] == "employer_contact")
        jobs = sorted((a for a in mine if a["activity_type"] == "job_start"), key=lambda a: _day(a["activity_on"]))
        continuous = any(
            ((min(_day(j["end_on"]), end) if _day(j["end_on"]) else end) - _day(j["activity_on"])).days
            >= CONTINUOUS_DAYS
            for j in jobs
        )
        rows = emps.get(p["study_code"], [])

        def total(column: str, rows=rows) -> float | None:
            values = [r[column] for r in rows if r[column] is not None and not pd.isna(r[column])]
            return float(sum(values)) if values else None

        asi = [
            (r["timepoint_months"], r["asi_employment"])
            for r in rows
            if r["asi_employment"] is not None and not pd.isna(r["asi_employment"])
        ]
        asi.sort()
        days_worked = total("days_worked")
        out.append(
            {
                "study_code": p["study_code"],
                "arm": p["arm"],
                "randomised_on": randomised,
                "days_in_study": in_study,
                "days_to_contact": (contacts[0] - randomised).days if contacts else None,
                "days_to_job": (_day(jobs[0]["activity_on"]) - randomised).days if jobs else None,
                "jobs": len(jobs),
                "full_time_jobs": sum(1 for j in jobs if j["extent"] == "full_time"),
                "part_time_jobs": sum(1 for j in jobs if j["extent"] == "part_time"),
                "worked_one_day": bool(jobs) or any(r["worked_any"] == "yes" for r in rows),
                "continuous_work": continuous,
                "days_worked": days_worked,
                # Exact (a Fraction of the reported days), so the mean is rounded half up without float error.
                "days_worked_share": (rounding.exact(days_worked) / in_study)
                if days_worked is not None and in_study
                else None,
                "hours_worked": total("hours_worked"),
                "income_sek": total("income_sek"),
                "benefits_sek": total("benefits_sek"),
                "asi_change": (asi[-1][1] - asi[0][1]) if len(asi) >= 2 else None,
            }
        )
    return pd.DataFrame(out)


def summary_by_arm(pp: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: counts and medians/means of the outcome measures."""
    rows = []
    for arm, part in pp.groupby("arm", sort=True):
        rows.append(
            {
                "arm": arm,
                "n": len(part),
                "contact_n": int(part["days_to_contact"].notna().sum()),
                "contact_median_days": _median(part["days_to_contact"]),
                "job_n": int(part["days_to_job"].notna().sum()),
                "job_median_days": _median(part["days_to_job"]),
                "worked_n": int(part["worked_one_day"].sum()),
                "continuous_n": int(part["continuous_work"].sum()),
                "jobs_total": int(part["jobs"].sum()),
                "full_time_jobs": int(part["full_time_jobs"].sum()),
                "part_time_jobs": int(part["part_time_jobs"].sum()),
                "days_worked_share_mean": _mean(part["days_worked_share"], 1, scale=100),
                "income_mean": _mean(part["income_sek"], 0),
                "benefits_mean": _mean(part["benefits_sek"], 0),
                "asi_change_mean": _mean(part["asi_change"], 3),
            }
        )
    frame = pd.DataFrame(rows)
    for column in SUMMARY_COUNTS:
        if column in frame:
            frame[column] = frame[column].astype("int64")
    return frame


def by_timepoint(people: pd.DataFrame, employment: pd.DataFrame) -> pd.DataFrame:
    """Per arm and follow-up: how many reported, worked at least a day, mean hours/income/benefits."""
    merged = employment.merge(people[["study_code", "arm"]], on="study_code", how="inner")
    rows = []
    for (arm, tp), part in merged.groupby(["arm", "timepoint_months"], sort=True):
        rows.append(
            {
                "arm": arm,
                "timepoint_months": int(tp),
                "reported_n": len(part),
                "worked_n": int((part["worked_any"] == "yes").sum()),
                "hours_mean": _mean(part["hours_worked"], 1),
                "income_mean": _mean(part["income_sek"], 0),
                "benefits_mean": _mean(part["benefits_sek"], 0),
                "asi_mean": _mean(part["asi_employment"], 3),
            }
        )
    frame = pd.DataFrame(rows, columns=list(TIMEPOINT_LABELS))
    for column in TIMEPOINT_COUNTS + ["timepoint_months"]:
        frame[column] = frame[column].astype("int64")
    return frame


# A statistic over the people a count counts describes them: hidden with that count (a median of one
# person's days is that person's days).
STATISTIC_OF = {
    "contact_median_days": "contact_n",
    "job_median_days": "job_n",
    "hours_mean": "reported_n",
    "income_mean": "reported_n",
    "benefits_mean": "reported_n",
    "asi_mean": "reported_n",
}
# Parts of one whole: a job's extent is full or part time (or not given), so with the total and one
# part shown a hidden part could come back. Hidden together.
JOB_COUNTS = ("jobs_total", "full_time_jobs", "part_time_jobs")


def suppressed(frame: pd.DataFrame, counts: list[str], rule, attrition_hidden=frozenset()) -> pd.DataFrame:
    """An outcome table (one row per arm, or per arm and timepoint) for a role with small-cell
    suppression: counts suppressed (`privacy.suppress_frame`), the analysed "n" per arm masked where the
    attrition family's decision hides ("analysed", arm), the job counts hidden together, and a statistic
    hidden with the count it is computed over."""
    from dashboard import privacy

    out = privacy.suppress_frame(frame, counts, rule).astype(object)
    text = rule.text
    for i, arm in enumerate(frame["arm"]):
        if "n" in out and ("analysed", str(arm)) in attrition_hidden:
            out.iloc[i, out.columns.get_loc("n")] = text
        jobs = [c for c in JOB_COUNTS if c in out]
        if any(out.iloc[i][c] == text for c in jobs):
            for c in jobs:
                out.iloc[i, out.columns.get_loc(c)] = text
        for statistic, base in STATISTIC_OF.items():
            if statistic in out and base in out and out.iloc[i][base] == text:
                out.iloc[i, out.columns.get_loc(statistic)] = text
    return privacy.declare_counts(out, counts)


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """For display: a missing figure (no one in the arm with that outcome) as a dash, never the
    grid's "None"/"NaN"."""
    return frame.astype(object).where(frame.notna(), "–")
