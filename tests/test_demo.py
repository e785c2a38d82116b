"""The synthetic demo study: contract formats, validity, cross-file consistency and realism.

Every figure is counted directly from the written files (csv module and openpyxl), never through
the project's loader, so these tests also pin down what the loader will be handed.
"""

from __future__ import annotations

import csv
import statistics
from argparse import Namespace
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from pydantic import ValidationError

from etl.demo import CONFIG_PATH, add_months, generate, run_demo_command
from schema import vocab
from schema.config import StudyConfig, load_config
from schema.pnr import looks_like_pnr
from schema.sources import (
    ActivityRow,
    AssignmentRow,
    BaselineRow,
    EmploymentRow,
    EventRow,
    FidelityRow,
    FollowUpRow,
    RandomisationRow,
    ReferralRow,
    SpecialistRow,
    ValidationContext,
    header_of,
    source,
)

# source key -> (file, model, sheet or None for CSV)
FILES = {
    "referrals": ("remisslogg.xlsx", ReferralRow, "Remisser"),
    "randomisations": ("randomisering.csv", RandomisationRow, None),
    "baseline": ("baslinje.csv", BaselineRow, None),
    "followups": ("uppfoljning.csv", FollowUpRow, None),
    "events": ("avslut.xlsx", EventRow, "Händelser"),
    "specialists": ("arbetsspecialister.csv", SpecialistRow, None),
    "assignments": ("tilldelning.csv", AssignmentRow, None),
    "fidelity": ("programtrohet.xlsx", FidelityRow, None),
    "activity": ("ips_aktivitet.csv", ActivityRow, None),
    "employment": ("sysselsattning.csv", EmploymentRow, None),
}
REPORT_DATE = date(2024, 2, 26)


# --- reading the files as a user would ---------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, object]]:
    """Rows as header -> cell value (CSV: text, '' for blank; Excel: openpyxl values)."""
    if path.suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return list(csv.DictReader(fh, delimiter=";"))
    wb = openpyxl.load_workbook(path, read_only=True)
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    wb.close()
    headers = [str(h) for h in rows[0]]
    return [dict(zip(headers, r, strict=False)) for r in rows[1:]]


def read_all(out: Path) -> dict[str, list[dict[str, object]]]:
    return {key: read_rows(out / name) for key, (name, _, _) in FILES.items()}


def as_date(value: object) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value))


def validate(out: Path, tables: dict[str, list[dict[str, object]]]):
    """(valid model instances per source, list of (source, row number, error type))."""
    ctx = {"study": ValidationContext(load_config(out / "studie.toml"))}
    valid: dict[str, list] = {}
    errors: list[tuple[str, int, str]] = []
    for key, (_, model, _) in FILES.items():
        header_to_field = {header_of(model, f): f for f in model.model_fields}
        valid[key] = []
        for i, row in enumerate(tables[key], start=2):
            data = {header_to_field[h]: v for h, v in row.items() if h in header_to_field}
            try:
                valid[key].append(model.model_validate(data, context=ctx))
            except ValidationError as exc:
                errors += [(key, i, e["type"]) for e in exc.errors()]
    return valid, errors


def cross_file_violations(v: dict[str, list], cfg: StudyConfig) -> list[tuple]:
    """Rules that span files, checked on the rows that passed their model."""
    bad: list[tuple] = []
    cutoff = cfg.data_cutoff
    refs = {r.study_code: r for r in v["referrals"]}
    if len(refs) != len(v["referrals"]):
        bad.append(("duplicate_referral_code",))
    counts = Counter(r.study_code for r in v["randomisations"])
    bad += [("duplicate_randomisation", c) for c, n in counts.items() if n > 1]
    rand = {}
    for r in v["randomisations"]:
        rand.setdefault(r.study_code, r)
    for code, r in rand.items():
        ref = refs.get(code)
        if ref is None or ref.excluded_stage or ref.baseline_on is None or ref.baseline_on > r.randomised_on:
            bad.append(("randomised_without_valid_referral", code))
    for key in ("baseline", "followups", "events", "assignments", "activity", "employment"):
        bad += [("unknown_code", key, row.study_code) for row in v[key] if row.study_code not in rand]
    for b in v["baseline"]:
        if b.study_code in refs and refs[b.study_code].baseline_on != b.baseline_on:
            bad.append(("baseline_date_differs", b.study_code))
    left: dict[str, date] = {}
    for e in v["events"]:
        r = rand.get(e.study_code)
        if r is None:
            continue
        if e.event_on < r.randomised_on:
            bad.append(("event_before_randomisation", e.study_code))
        if e.event_type == "stopped_ips" and r.arm != "ips":
            bad.append(("stopped_ips_in_control_arm", e.study_code))
        if e.event_type == "left_study":
            left[e.study_code] = e.event_on
    seen = Counter((f.study_code, f.timepoint_months) for f in v["followups"])
    bad += [("duplicate_followup", k) for k, n in seen.items() if n > 1]
    for f in v["followups"]:
        r = rand.get(f.study_code)
        if f.timepoint_months not in cfg.followup.timepoints_months:
            bad.append(("bad_timepoint", f.study_code))
        if (
            r
            and f.done_on
            and (f.done_on < r.randomised_on or (f.study_code in left and f.done_on >= left[f.study_code]))
        ):
            bad.append(("followup_outside_participation", f.study_code))
    periods = defaultdict(list)
    for s in v["specialists"]:
        periods[s.specialist_id].append(s)
        if s.end_on and s.end_on > cutoff:
            bad.append(("specialist_end_after_cutoff", s.specialist_id))
    for a in v["assignments"]:
        r, ref = rand.get(a.study_code), refs.get(a.study_code)
        if r is None or ref is None:
            continue
        if r.arm != "ips":
            bad.append(("assignment_in_control_arm", a.study_code))
        if a.start_on < r.randomised_on or (a.end_on and a.end_on > cutoff):
            bad.append(("assignment_dates", a.study_code))
        serving = [
            s
            for s in periods[a.specialist_id]
            if ref.district_id in s.district_ids
            and s.start_on <= a.start_on
            and (s.end_on is None or (a.end_on and a.end_on <= s.end_on))
        ]
        if not serving:
            bad.append(("assignment_specialist_not_serving", a.study_code, a.specialist_id))
    for x in v["activity"]:
        if x.study_code in rand and x.activity_on < rand[x.study_code].randomised_on:
            bad.append(("activity_before_randomisation", x.study_code))
    reviews = defaultdict(list)
    for f in v["fidelity"]:
        reviews[f.reviewed_on].append(f.item_key)
    for day, keys in reviews.items():
        if sorted(keys) != sorted(vocab.FIDELITY_ITEMS):
            bad.append(("fidelity_incomplete", day))
    return bad


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate(out, seed=42)
    tables = read_all(out)
    valid, errors = validate(out, tables)
    return out, tables, valid, errors


@pytest.fixture(scope="module")
def mistaken(tmp_path_factory):
    out = tmp_path_factory.mktemp("mistakes")
    generate(out, seed=42, mistakes=True)
    tables = read_all(out)
    valid, errors = validate(out, tables)
    return out, tables, valid, errors


def _rand(tables) -> dict[str, tuple[date, str]]:
    return {r["Studiekod"]: (as_date(r["Randomiseringsdatum"]), r["Grupp"]) for r in tables["randomisations"]}


def _left(tables) -> dict[str, date]:
    return {e["Studiekod"]: as_date(e["Datum"]) for e in tables["events"] if e["Händelse"] == "Lämnat studien"}


# --- formats -----------------------------------------------------------------------------------


def test_generate_writes_exactly_the_contract_files(demo):
    out, tables, _, _ = demo
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f for f, _, _ in FILES.values()), "studie.toml"])
    for key, (name, model, sheet) in FILES.items():
        expected = [header_of(model, f) for f in model.model_fields]
        if name.endswith(".csv"):
            raw = (out / name).read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf"), name
            first = raw[3:].split(b"\r\n", 1)[0].decode("utf-8")
            assert first.split(";") == expected, name
        else:
            wb = openpyxl.load_workbook(out / name, read_only=True)
            if sheet:
                assert wb.sheetnames == [sheet]
            wb.close()
            assert list(tables[key][0]) == expected, name
        assert tables[key], f"{name} is empty"


def test_generate_excel_dates_are_date_cells_and_csv_dates_iso(demo):
    _, tables, _, _ = demo
    assert all(isinstance(r["Remissdatum"], datetime) for r in tables["referrals"])
    assert all(isinstance(r["Datum"], datetime) for r in tables["events"])
    assert all(
        len(r["Randomiseringsdatum"]) == 10 and r["Randomiseringsdatum"][4] == "-" for r in tables["randomisations"]
    )


def test_config_is_a_copy_at_scale_one(demo):
    out, _, _, _ = demo
    assert (out / "studie.toml").read_bytes() == CONFIG_PATH.read_bytes()


def test_rows_all_valid_under_their_models(demo):
    _, _, _, errors = demo
    assert errors == []


def test_cross_file_rules_hold(demo):
    out, _, valid, _ = demo
    assert cross_file_violations(valid, load_config(out / "studie.toml")) == []


def test_no_cell_looks_like_personnummer(demo, mistaken):
    for _, tables, _, _ in (demo, mistaken):
        for key, rows in tables.items():
            for row in rows:
                for header, value in row.items():
                    assert not looks_like_pnr(header) and not looks_like_pnr(value), (key, header)


def test_generate_is_deterministic(tmp_path):
    generate(tmp_path / "a", seed=7)
    generate(tmp_path / "b", seed=7)
    generate(tmp_path / "c", seed=8)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "randomisering.csv").read_bytes() != (tmp_path / "c" / "randomisering.csv").read_bytes()


# --- realism (scale 1) -------------------------------------------------------------------------


def test_randomisation_counts_match_interim_report(demo):
    _, tables, _, _ = demo
    days = [as_date(r["Randomiseringsdatum"]) for r in tables["randomisations"]]
    assert 132 <= sum(d <= REPORT_DATE for d in days) <= 144
    assert 175 <= len(days) <= 215
    assert len(set(r["Studiekod"] for r in tables["randomisations"])) == len(days)


def test_randomisation_blocks_balanced_and_waits_shrink(demo):
    _, tables, _, _ = demo
    baseline = {r["Studiekod"]: as_date(r["Baslinjedatum"]) for r in tables["baseline"]}
    arms = defaultdict(Counter)
    early, late = [], []
    for r in tables["randomisations"]:
        day = as_date(r["Randomiseringsdatum"])
        arms[r["Stratum"]][r["Grupp"]] += 1
        wait = (day - baseline[r["Studiekod"]]).days
        (
            early if day < date(2023, 10, 1) and day > date(2023, 3, 15) else late if day >= date(2024, 4, 1) else []
        ).append(wait)
    assert set(arms) == {"Södermalm", "Järva", "Enheten för hemlösa", "Enskede-Årsta-Vantör"}
    for stratum, c in arms.items():
        assert abs(c["IPS+TAU"] - c["TVR+TAU"]) <= 4, stratum
    assert statistics.median(early) >= 14
    assert statistics.median(late) <= 10


def test_baseline_resembles_table_one(demo):
    _, tables, _, _ = demo
    rand = _rand(tables)
    base = [b for b in tables["baseline"] if b["Studiekod"] in rand]
    assert len(base) == len(rand)
    men = sum(b["Kön"] == "Man" for b in base) / len(base)
    assert 0.78 <= men <= 0.86
    ages = [as_date(b["Baslinjedatum"]).year - int(b["Födelseår"]) for b in base]
    assert 41 <= statistics.mean(ages) <= 45 and min(ages) >= 21 and max(ages) <= 64
    answered = [b["Född i Sverige"] for b in base if b["Född i Sverige"]]
    assert 0.28 <= answered.count("Nej") / len(answered) <= 0.42
    assert any(b["Lönearbete tidigare"] == "" for b in base)  # missing answers, as Table 1's n varies
    income = [b["Inkomstkälla"] for b in base if b["Inkomstkälla"]]
    assert 0.72 <= income.count("Ekonomiskt bistånd") / len(income) <= 0.92


def test_codes_follow_pattern_and_gender(demo):
    out, tables, _, _ = demo
    import re

    pattern = re.compile(load_config(out / "studie.toml").codes.pattern)
    letters = {"Man": "M", "Kvinna": "K", "Annat/icke-binär": "X"}
    assert all(pattern.match(r["Studiekod"]) for r in tables["referrals"])
    for b in tables["baseline"]:
        assert b["Studiekod"][5] == letters[b["Kön"]]


def test_referrals_funnel_has_exclusions_reentries_and_pending(demo):
    _, tables, _, _ = demo
    refs = tables["referrals"]
    stages = Counter(r["Exkluderad vid"] for r in refs if r["Exkluderad vid"])
    assert set(stages) == {"Remiss", "Informationsmöte", "Samtycke", "Inskrivningssamtal", "Baslinje"}
    at_info = Counter(r["Exklusionsorsak"] for r in refs if r["Exkluderad vid"] == "Informationsmöte")
    assert at_info.most_common(1)[0][0] == "Otillräcklig motivation"
    assert any(r["Exklusionsorsak"] == "Tackade nej" for r in refs)
    after_baseline = [r for r in refs if r["Exkluderad vid"] == "Baslinje"]
    assert [r["Exklusionsorsak"] for r in after_baseline] == ["Uppfyller ej inklusionskriterierna"]
    by_code = {r["Studiekod"]: r for r in refs}
    again = [r for r in refs if r["Tidigare studiekod"]]
    assert again
    for r in again:
        first = by_code[r["Tidigare studiekod"]]
        assert first["Exklusionsorsak"] == "Otillräcklig motivation"
        assert r["Remissdatum"] >= first["Informationsmöte"] + timedelta(days=90)
    rand = _rand(tables)
    pending = [r for r in refs if not r["Exkluderad vid"] and r["Studiekod"] not in rand]
    assert 2 <= len(pending) <= 40
    sources = Counter(r["Remitterande instans"] for r in refs)
    assert sources.most_common(1)[0][0] == "Ekonomiskt bistånd + vuxenenhet"
    assert sources["Ekonomiskt bistånd + Beroendecentrum"] > 0
    assert all(r["Remissdatum"] >= datetime(2023, 9, 1) for r in refs if r["Remitterande instans"] == "Prima Maria")


def test_referrals_jarva_history_names(demo):
    _, tables, _, _ = demo
    jarva = [r for r in tables["referrals"] if r["Stadsdel"] in ("Järva", "Rinkeby-Kista")]
    assert jarva
    for r in jarva:
        expected = "Rinkeby-Kista" if r["Remissdatum"] < datetime(2023, 7, 1) else "Järva"
        assert r["Stadsdel"] == expected
    assert {r["Stadsdel"] for r in jarva} == {"Järva", "Rinkeby-Kista"}
    eav = [r["Remissdatum"] for r in tables["referrals"] if r["Stadsdel"] == "Enskede-Årsta-Vantör"]
    assert min(eav) >= datetime(2023, 4, 17)


def test_events_attrition_near_thirty_percent(demo):
    _, tables, _, _ = demo
    rand = _rand(tables)
    left = _left(tables)
    assert 0.25 <= len(left) / len(rand) <= 0.35
    reasons = Counter(e["Orsak"] for e in tables["events"] if e["Händelse"] == "Lämnat studien")
    assert {"Återfall", "HVB-placering", "Frihetsberövad", "Tappad kontakt"} <= set(reasons)
    ips = sum(arm == "IPS+TAU" for _, arm in rand.values())
    stopped = [e for e in tables["events"] if e["Händelse"] == "Avslutat IPS"]
    assert 0.08 <= len(stopped) / ips <= 0.25
    assert all(rand[e["Studiekod"]][1] == "IPS+TAU" for e in stopped)
    pauses = [e for e in tables["events"] if e["Händelse"] == "Paus"]
    resumed = {e["Studiekod"]: e["Datum"] for e in tables["events"] if e["Händelse"] == "Återupptagen"}
    assert pauses and all(p["Orsak"] == "Frihetsberövad" for p in pauses)
    assert all(timedelta(0) < resumed[p["Studiekod"]] - p["Datum"] < timedelta(days=91) for p in pauses)


def _completion(tables, cutoff: date) -> dict[int, tuple[int, int]]:
    rand, left = _rand(tables), _left(tables)
    done = {(f["Studiekod"], int(f["Tidpunkt"])) for f in tables["followups"] if f["Status"] == "Genomförd"}
    out = {}
    for tp in (6, 12, 18):
        due = [
            c
            for c, (day, _) in rand.items()
            if add_months(day, tp) + timedelta(days=30) <= cutoff and not (c in left and left[c] <= add_months(day, tp))
        ]
        out[tp] = (sum((c, tp) in done for c in due), len(due))
    return out


def test_followups_completion_falls_with_timepoint(demo):
    _, tables, _, _ = demo
    comp = _completion(tables, date(2024, 9, 30))
    rate = {tp: d / n for tp, (d, n) in comp.items()}
    assert comp[18][1] >= 5
    assert rate[6] > rate[12] > rate[18]
    assert 0.6 <= rate[6] <= 0.9
    assert any(f["Status"] == "Missad" and f["Datum"] == "" for f in tables["followups"])
    rand = _rand(tables)
    late = [
        f
        for f in tables["followups"]
        if f["Datum"]
        and as_date(f["Datum"]) > add_months(rand[f["Studiekod"]][0], int(f["Tidpunkt"])) + timedelta(days=30)
    ]
    assert late


def test_followups_one_unit_clearly_worse(demo):
    _, tables, _, _ = demo
    per_unit = defaultdict(Counter)
    for f in tables["followups"]:
        per_unit[f["Enhet"]][f["Status"]] += 1
    rates = {u: c["Genomförd"] / sum(c.values()) for u, c in per_unit.items()}
    assert set(rates) == {
        "Vuxenenheten Södermalm",
        "Vuxenenheten Järva",
        "Enheten för hemlösa",
        "Vuxenenheten Enskede-Årsta-Vantör",
    }
    worst = min(rates, key=rates.get)
    assert worst == "Vuxenenheten Järva"
    assert all(rates[u] - rates[worst] >= 0.1 for u in rates if u != worst)


def test_specialists_six_shared_and_a_gap(demo):
    out, tables, valid, _ = demo
    specs = tables["specialists"]
    assert sorted({s["Kod"] for s in specs}) == list("ABCDEF")
    assert sum(";" in s["Stadsdelar"] for s in specs if s["Till"] == "") == 2
    assert {s["Tjänstgöringsgrad"] for s in specs} <= {"100", "50"}
    cfg = load_config(out / "studie.toml")
    gap = False
    for d in cfg.districts:
        for day in (date(2023, 12, 1), date(2024, 6, 1)):
            active = {
                s.specialist_id
                for s in valid["specialists"]
                if d.id in s.district_ids and s.start_on <= day and (s.end_on is None or day <= s.end_on)
            }
            assert active, (d.id, day)
            gap = gap or len(active) == 1
    assert gap


def test_assignments_some_specialist_exceeds_cap(demo):
    _, tables, _, _ = demo
    spans = [
        (a["Arbetsspecialist"], as_date(a["Från"]), as_date(a["Till"]) or date(2024, 9, 30))
        for a in tables["assignments"]
    ]
    peak = 0
    day = date(2023, 2, 1)
    while day <= date(2024, 9, 30):
        load = Counter(s for s, a, b in spans if a <= day <= b)
        peak = max(peak, *load.values(), 0)
        day += timedelta(days=7)
    assert peak > 15


def test_fidelity_reviews_match_table_two(demo):
    _, tables, valid, _ = demo
    totals = Counter()
    for f in tables["fidelity"]:
        totals[f["Skattningsdatum"].date()] += int(f["Poäng"])
    assert totals[date(2023, 9, 15)] == 92
    assert 100 <= totals[date(2024, 9, 16)] <= 105
    sept = {f.item_key: f.score for f in valid["fidelity"] if f.reviewed_on == date(2023, 9, 15)}
    assert [sept[f"O{i}"] for i in range(1, 9)] == [5, 3, 3, 5, 5, 5, 3, 5]
    assert [sept[f"T{i}"] for i in range(1, 15)] == [5, 5, 4, 3, 5, 2, 4, 1, 1, 1, 4, 4, 1, 3]


def test_sealed_outcomes_small_and_mostly_ips(demo):
    _, tables, _, _ = demo
    rand = _rand(tables)
    acts = tables["activity"]
    ips_share = sum(rand[a["Studiekod"]][1] == "IPS+TAU" for a in acts) / len(acts)
    assert ips_share > 0.85
    done = {(f["Studiekod"], f["Tidpunkt"]) for f in tables["followups"] if f["Status"] == "Genomförd"}
    assert {(e["Studiekod"], e["Tidpunkt"]) for e in tables["employment"]} == done


# --- scale and mistakes ------------------------------------------------------------------------


def test_scale_three_triples_participants_with_valid_config(tmp_path, demo):
    generate(tmp_path, seed=42, scale=3)
    cfg = load_config(tmp_path / "studie.toml")
    assert len(cfg.districts) == 12
    assert cfg.target_randomised == sum(d.target for d in cfg.districts) == 720
    assert len({d.start for d in cfg.districts}) > 3
    tables = read_all(tmp_path)
    ratio = len(tables["randomisations"]) / len(demo[1]["randomisations"])
    assert 2.4 <= ratio <= 3.6
    assert any(len(s["Kod"]) == 1 for s in tables["specialists"])
    assert len({s["Kod"] for s in tables["specialists"]}) == 18
    valid, errors = validate(tmp_path, tables)
    assert errors == []
    assert cross_file_violations(valid, cfg) == []


def _row_level_rejections(out: Path) -> list[tuple[str, int, str]]:
    """(source, row, rule id) of every rejection the loader's row-level checks give (each field's
    declarations and the row rules; the rules across files are checked below, independently)."""
    from etl import read
    from etl.validate import validate_table

    ctx = ValidationContext(load_config(out / "studie.toml"))
    found = []
    for key, (name, _, _) in FILES.items():
        table = read.read_source(out / name, source(key))
        found += [(key, r.row_number, r.rule) for r in validate_table(table, ctx).rejected]
    return found


def test_mistakes_each_break_a_rule(demo, mistaken):
    out, tables, valid, _ = mistaken
    errors = _row_level_rejections(out)
    kinds = {e[2] for e in errors}
    assert {
        "unknown_district",
        "date_impossible",
        "date_ambiguous",
        "after_cutoff",
        "missing",  # a blank required cell (the loader's rule id; the model alone says "required")
        "out_of_range",
        "not_in_list",
    } <= kinds
    assert len({(src, row) for src, row, _ in errors}) == 7
    cross = {v[0] for v in cross_file_violations(valid, load_config(out / "studie.toml"))}
    assert {"duplicate_randomisation", "unknown_code", "event_before_randomisation"} <= cross
    clean_rows = sum(len(r) for r in demo[1].values())
    assert sum(len(r) for r in tables.values()) - clean_rows == 4  # appended rows; the rest are edits


def test_run_demo_command_prints_swedish_summary(tmp_path, capsys):
    args = Namespace(out=str(tmp_path / "demo"), seed=42, scale=1, mistakes=False)
    assert run_demo_command(args) == 0
    text = capsys.readouterr().out
    assert "randomiserade" in text and "Demostudien" in text
    assert (tmp_path / "demo" / "remisslogg.xlsx").exists()


# --- allocation sequence and exclusion after randomisation (issue 12) ---------------------------------


def _sequence(tables) -> list[dict]:
    return sorted(tables["randomisations"], key=lambda r: (as_date(r["Randomiseringsdatum"]), int(r["Löpnummer"])))


def test_demo_log_has_a_complete_allocation_sequence(demo):
    _, tables, _, errors = demo
    log = tables["randomisations"]
    numbers = [int(r["Löpnummer"]) for r in log]
    assert sorted(numbers) == list(range(1, len(log) + 1))  # no gap, no duplicate
    sequence = _sequence(tables)
    assert [as_date(r["Randomiseringsdatum"]) for r in sequence] == sorted(
        as_date(r["Randomiseringsdatum"]) for r in log
    )
    days = Counter(as_date(r["Randomiseringsdatum"]) for r in log)
    assert sum(1 for n in days.values() if n > 1) >= 3  # several randomised on one day, often


def test_demo_first_checkpoint_is_decided_by_the_löpnummer_not_by_the_code(demo):
    out, tables, _, _ = demo
    cfg = load_config(out / "studie.toml")
    size = -(-cfg.target_randomised // cfg.balance.checkpoints)
    log = tables["randomisations"]
    by_number = {r["Studiekod"] for r in _sequence(tables)[:size]}
    by_row = {r["Studiekod"] for r in sorted(log, key=lambda r: as_date(r["Randomiseringsdatum"]))[:size]}
    by_code = {
        r["Studiekod"] for r in sorted(log, key=lambda r: (as_date(r["Randomiseringsdatum"]), r["Studiekod"]))[:size]
    }
    # The day the checkpoint is reached has people of two districts; the log is sorted by code there.
    assert by_number != by_row and by_number != by_code
    boundary = _sequence(tables)[size - 1]
    same_day = [r for r in log if r["Randomiseringsdatum"] == boundary["Randomiseringsdatum"]]
    assert len({r["Stratum"] for r in same_day}) == 2


def test_demo_has_one_exclusion_after_randomisation_inside_the_first_checkpoint(demo):
    out, tables, _, _ = demo
    cfg = load_config(out / "studie.toml")
    size = -(-cfg.target_randomised // cfg.balance.checkpoints)
    excluded = [r for r in tables["randomisations"] if r["Exkluderad efter randomisering"]]
    assert len(excluded) == 1  # as in the interim report: 138 randomised, one excluded afterwards
    (row,) = excluded
    assert row["Orsak exklusion efter randomisering"] == "Uppfyller ej inklusionskriterierna"
    on = as_date(row["Exkluderad efter randomisering"])
    assert as_date(row["Randomiseringsdatum"]) < on
    assert row["Studiekod"] in {r["Studiekod"] for r in _sequence(tables)[:size]}
    code = row["Studiekod"]
    assert not [f for f in tables["followups"] if f["Studiekod"] == code]
    assert not [e for e in tables["events"] if e["Studiekod"] == code and as_date(e["Datum"]) > on]


def test_demo_store_freezes_the_first_checkpoint_in_allocation_order(demo_db, demo_dir):
    import duckdb

    from etl.paths import current_target
    from tests import independent as ind

    log = ind.rows(demo_dir, "randomisering")
    size = -(-ind.config(demo_dir)["target_randomised"] // 3)
    first = sorted(log, key=lambda r: (r["Randomiseringsdatum"], int(r["Löpnummer"])))[:size]
    con = duckdb.connect(str(current_target(demo_db)), read_only=True)
    try:
        frozen = {
            c
            for (c,) in con.execute(
                'select study_code from meta.balance_checkpoint_rows where "checkpoint" = 1'
            ).fetchall()
        }
    finally:
        con.close()
    assert frozen == {r["Studiekod"] for r in first}
