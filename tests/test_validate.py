"""Row rules (schema/sources.py) and cross-file rules (etl/validate.py): good and bad examples."""

from __future__ import annotations

import time
from datetime import date

import pytest

from etl.validate import reason_sv, validate_tables
from tests import fixtures as fx

D = date.fromisoformat


def _run(rows):
    return validate_tables(fx.raw_tables(rows), fx.config())


def _all_rejections(results):
    return [r for res in results.values() for r in res.rejected]


def test_validate_base_study_accepts_everything():
    results = _run(fx.study_rows())
    assert _all_rejections(results) == []
    assert results["referrals"].rows_loaded == 5
    assert results["fidelity"].rows_loaded == 25


# --- field and row rules ------------------------------------------------------------------------
# (source, row index, header, value typed, rule id, part of the Swedish reason, column reported)
FIELD_CASES = [
    ("referrals", 0, "Remissdatum", "2023-02-30", "date_impossible", "finns inte", "Remissdatum"),
    ("referrals", 0, "Remissdatum", "03/04/2023", "date_ambiguous", "kan läsas på två sätt", "Remissdatum"),
    ("referrals", 0, "Remissdatum", "13/13/2023", "date_format", "ÅÅÅÅ-MM-DD", "Remissdatum"),
    ("referrals", 0, "Remissdatum", "igår", "date_format", "är inget datum", "Remissdatum"),
    ("referrals", 0, "Remissdatum", None, "missing", "värde saknas", "Remissdatum"),
    ("referrals", 0, "Remissdatum", "  ", "missing", "värde saknas", "Remissdatum"),
    ("referrals", 0, "Baslinje", D("2024-10-01"), "after_cutoff", "efter datauttagets datum 2024-09-30", "Baslinje"),
    (
        "referrals",
        0,
        "Remitterande instans",
        "Polisen",
        "not_in_list",
        "inget tillåtet värde för remitterande instans",
        "Remitterande instans",
    ),
    ("referrals", 0, "Studiekod", "A314M27", "code_pattern", "följer inte mönstret", "Studiekod"),
    ("referrals", 0, "Stadsdel", "Vasastan", "unknown_district", "finns inte i studien", "Stadsdel"),
    ("referrals", 0, "Samtycke", D("2023-03-04"), "date_order", "ligger före Informationsmöte", "Samtycke"),
    (
        "referrals",
        0,
        "Exkluderad vid",
        "Samtycke",
        "exclusion_pair",
        "ska fyllas i, eller ingen av dem",
        "Exklusionsorsak",
    ),
    ("referrals", 3, "Exkluderad vid", "Remiss", "after_exclusion", "exkluderades vid remiss", "Informationsmöte"),
    ("referrals", 3, "Exkluderad vid", None, "exclusion_pair", "ska fyllas i", "Exkluderad vid"),
    (
        "referrals",
        0,
        "Motivationsskattning",
        "Otillräcklig",
        "motivation_excl",
        "ingen exklusion angiven",
        "Exkluderad vid",
    ),
    ("referrals", 0, "Tidigare studiekod", "A0314M27", "self_reref", "kan inte vara samma", "Tidigare studiekod"),
    ("randomisations", 0, "Grupp", "Placebo", "not_in_list", "inget tillåtet värde för arm", "Grupp"),
    ("baseline", 0, "Födelseår", "nittonåttio", "not_number", "är inget tal", "Födelseår"),
    ("baseline", 0, "Födelseår", "1981,5", "not_whole", "ska vara ett heltal", "Födelseår"),
    ("baseline", 0, "Födelseår", 1850, "out_of_range", "mellan 1900 och 2100", "Födelseår"),
    ("baseline", 0, "Födelseår", 2010, "age_range", "studien tar 18–67 år", "Födelseår"),
    ("baseline", 0, "Kön", "Vet ej", "not_in_list", "kön", "Kön"),
    ("baseline", 0, "Född i Sverige", "Kanske", "not_in_list", "ja/nej", "Född i Sverige"),
    ("followups", 0, "Datum", None, "done_date", "saknar datum", "Datum"),
    ("followups", 0, "Tidpunkt", None, "missing", "värde saknas", "Tidpunkt"),
    ("followups", 0, "Status", "Kanske", "not_in_list", "uppföljning", "Status"),
    ("events", 0, "Orsak", None, "reason_required", "orsak krävs för ”Avslutat IPS”", "Orsak"),
    ("events", 0, "Händelse", "Semester", "not_in_list", "händelse", "Händelse"),
    ("specialists", 0, "Kod", "A1", "letter", "1–3 bokstäver", "Kod"),
    ("specialists", 0, "Tjänstgöringsgrad", 150, "share", "1–100 %", "Tjänstgöringsgrad"),
    ("specialists", 0, "Tjänstgöringsgrad", -5, "out_of_range", "kan inte vara negativt", "Tjänstgöringsgrad"),
    ("specialists", 0, "Till", D("2023-01-01"), "date_order", "ligger före Från", "Till"),
    ("specialists", 0, "Stadsdelar", "Södermalm; Vasastan", "unknown_district", "Vasastan", "Stadsdelar"),
    ("assignments", 1, "Till", D("2023-04-01"), "date_order", "ligger före Från", "Till"),
    ("fidelity", 0, "Punkt", 9, "fidelity_item", "ingen punkt 9 i området ”Personal”", "Punkt"),
    ("fidelity", 0, "Poäng", 6, "out_of_range", "mellan 1 och 5", "Poäng"),
    ("activity", 0, "Aktivitet", "Fika", "not_in_list", "aktivitet", "Aktivitet"),
    ("activity", 1, "Timmar per vecka", "-3", "out_of_range", "negativt", "Timmar per vecka"),
    ("activity", 1, "Slutdatum", D("2023-05-01"), "date_order", "ligger före Datum", "Slutdatum"),
    ("employment", 0, "Inkomst kr", "mycket", "not_number", "är inget tal", "Inkomst kr"),
    ("employment", 0, "Tidpunkt", 121, "out_of_range", "mellan 0 och 120", "Tidpunkt"),
]


@pytest.mark.parametrize(
    ("key", "index", "header", "value", "rule", "reason", "column"),
    FIELD_CASES,
    ids=[f"{c[0]}-{c[4]}-{c[2]}" for c in FIELD_CASES],
)
def test_validate_field_rule_rejects_with_swedish_reason(key, index, header, value, rule, reason, column):
    rows = fx.set_cell(fx.study_rows(), key, index, header, value)
    results = _run(rows)
    own = [r for r in results[key].rejected if r.row_number == fx.row_number(index) and r.rule == rule]
    assert own, [r.line_sv() for r in _all_rejections(results)]
    rej = own[0]
    assert reason in rej.reason
    assert rej.file_name == f"{fx.FILE_NAMES[key]}.xlsx"
    assert rej.sheet == "Blad1"
    assert rej.column == column
    letter = fx.raw_tables(rows)[key].header_letters[
        next(f for f, h in fx.raw_tables(rows)[key].headers.items() if h == column)
    ]
    assert rej.cell_ref == f"Blad1!{letter}{fx.row_number(index)}"
    assert all(a.row_number != fx.row_number(index) for a in results[key].accepted)


# Values staff type that must be accepted: (source, row, header, value, field, stored value)
GOOD_CASES = [
    ("referrals", 0, "Remissdatum", "2023-03-01", "referred_on", D("2023-03-01")),
    ("referrals", 0, "Remissdatum", "20230301", "referred_on", D("2023-03-01")),
    ("referrals", 0, "Remissdatum", "2023-03-01 00:00:00", "referred_on", D("2023-03-01")),
    ("referrals", 0, "Stadsdel", "Rinkeby-Kista", "district_id", "jarva"),
    ("referrals", 0, "Stadsdel", " södermalm ", "district_id", "sodermalm"),
    ("referrals", 0, "Studiekod", "a0314m27", "study_code", "A0314M27"),
    ("referrals", 0, "Remitterande instans", "Vuxenenhet", "referral_source", "eb_vuxenenhet"),
    ("baseline", 0, "Född i Sverige", "J", "born_in_sweden", "yes"),
    ("baseline", 0, "Född i Sverige", "x", "born_in_sweden", "yes"),
    ("baseline", 0, "Född i Sverige", "N", "born_in_sweden", "no"),
    ("baseline", 0, "Född i Sverige", "nej", "born_in_sweden", "no"),
    ("baseline", 0, "Födelseår", 1981.0, "birth_year", 1981),
    ("baseline", 0, "Födelseår", "1981", "birth_year", 1981),
    ("followups", 0, "Tidpunkt", "6 mån", "timepoint_months", 6),
    ("specialists", 0, "Tjänstgöringsgrad", 0.5, "employment_pct", 50),
    ("specialists", 0, "Tjänstgöringsgrad", "75%", "employment_pct", 75),
    ("specialists", 1, "Stadsdelar", "Järva, EFH", "district_ids", ("jarva", "hemlosa")),
    ("randomisations", 0, "Stratum", 3.0, "stratum", "3"),
    ("activity", 1, "Timmar per vecka", "20,5", "hours_per_week", 20.5),
]


@pytest.mark.parametrize(
    ("key", "index", "header", "value", "field", "stored"),
    GOOD_CASES,
    ids=[f"{c[0]}-{c[2]}-{c[3]!s}" for c in GOOD_CASES],
)
def test_validate_field_accepts_typed_variant(key, index, header, value, field, stored):
    results = _run(fx.set_cell(fx.study_rows(), key, index, header, value))
    assert _all_rejections(results) == []
    row = next(a.row for a in results[key].accepted if a.row_number == fx.row_number(index))
    assert getattr(row, field) == stored


# --- cross-file rules ---------------------------------------------------------------------------


def _dup_referral(rows):
    return fx.add_row(rows, "referrals", dict(rows["referrals"]["rows"][1]))


def _prev_unknown(rows):
    fx.set_cell(rows, "referrals", 4, "Tidigare studiekod", "Z0101M99")
    return 4


def _reref_too_soon(rows):
    fx.set_cell(rows, "referrals", 4, "Remissdatum", D("2023-06-01"))
    fx.set_cell(rows, "referrals", 4, "Informationsmöte", D("2023-06-05"))
    return 4


def _rand_without_referral(rows):
    return fx.add_row(
        rows, "randomisations", {"Studiekod": "E0101M11", "Randomiseringsdatum": D("2023-05-01"), "Grupp": "IPS+TAU"}
    )


def _rand_excluded(rows):
    return fx.add_row(
        rows, "randomisations", {"Studiekod": "C0410M44", "Randomiseringsdatum": D("2023-05-01"), "Grupp": "IPS+TAU"}
    )


def _rand_no_baseline(rows):
    fx.set_cell(rows, "referrals", 2, "Baslinje", None)
    return 2


def _rand_before_baseline(rows):
    fx.set_cell(rows, "randomisations", 0, "Randomiseringsdatum", D("2023-03-09"))
    return 0


def _rand_twice(rows):
    return fx.add_row(
        rows, "randomisations", {"Studiekod": "A0314M27", "Randomiseringsdatum": D("2023-03-18"), "Grupp": "TVR+TAU"}
    )


def _baseline_unrandomised(rows):
    return fx.add_row(
        rows, "baseline", {"Studiekod": "C0410M44", "Baslinjedatum": D("2023-04-10"), "Kön": "Man", "Födelseår": 1980}
    )


def _followup_unrandomised(rows):
    return fx.add_row(rows, "followups", {"Studiekod": "C0410M44", "Tidpunkt": 6, "Status": "Missad"})


def _event_unrandomised(rows):
    return fx.add_row(
        rows,
        "events",
        {"Studiekod": "C0410M44", "Datum": D("2023-06-01"), "Händelse": "Lämnat studien", "Orsak": "Återfall"},
    )


def _assignment_unrandomised(rows):
    return fx.add_row(rows, "assignments", {"Studiekod": "C0410M44", "Arbetsspecialist": "A", "Från": D("2023-06-01")})


def _activity_unrandomised(rows):
    return fx.add_row(rows, "activity", {"Studiekod": "C0410M44", "Datum": D("2023-06-01"), "Aktivitet": "Praktik"})


def _employment_unrandomised(rows):
    return fx.add_row(rows, "employment", {"Studiekod": "C0410M44", "Tidpunkt": 6})


def _event_before_rand(rows):
    fx.set_cell(rows, "events", 0, "Datum", D("2023-04-01"))
    return 0


def _followup_before_rand(rows):
    fx.set_cell(rows, "followups", 0, "Datum", D("2023-03-01"))
    return 0


def _followup_bad_timepoint(rows):
    fx.set_cell(rows, "followups", 2, "Tidpunkt", 9)
    return 2


def _followup_twice(rows):
    return fx.add_row(
        rows, "followups", {"Studiekod": "A0314M27", "Tidpunkt": 6, "Status": "Genomförd", "Datum": D("2023-09-20")}
    )


def _stopped_ips_control(rows):
    return fx.add_row(
        rows,
        "events",
        {"Studiekod": "B0320K11", "Datum": D("2023-06-01"), "Händelse": "Avslutat IPS", "Orsak": "Återfall"},
    )


def _unknown_specialist(rows):
    fx.set_cell(rows, "assignments", 0, "Arbetsspecialist", "Q")
    return 0


def _assignment_control(rows):
    return fx.add_row(rows, "assignments", {"Studiekod": "B0320K11", "Arbetsspecialist": "B", "Från": D("2023-03-21")})


def _fidelity_missing_item(rows):
    del rows["fidelity"]["rows"][24]
    return 0


def _fidelity_double_item(rows):
    return fx.add_row(rows, "fidelity", dict(rows["fidelity"]["rows"][3]))


def _baseline_twice(rows):
    return fx.add_row(rows, "baseline", dict(rows["baseline"]["rows"][0]))


def _employment_twice(rows):
    return fx.add_row(rows, "employment", dict(rows["employment"]["rows"][0]))


# (name, mutation -> row index, source, rule, reason part, column)
CROSS_CASES = [
    (_dup_referral, "referrals", "duplicate_referral", "finns redan på rad 3", "Studiekod"),
    (_prev_unknown, "referrals", "previous_unknown", "Z0101M99 finns inte i remissloggen", "Tidigare studiekod"),
    (_reref_too_soon, "referrals", "rereferral_too_soon", "mindre än 3 månader efter exklusion", "Remissdatum"),
    (
        _rand_without_referral,
        "randomisations",
        "randomisation_without_referral",
        "finns inte (giltig) i remissloggen",
        "Studiekod",
    ),
    (_rand_excluded, "randomisations", "randomised_excluded", "är exkluderad (vid informationsmöte)", "Studiekod"),
    (_rand_no_baseline, "randomisations", "randomised_without_baseline", "har inget baslinjedatum", "Studiekod"),
    (
        _rand_before_baseline,
        "randomisations",
        "randomised_before_baseline",
        "före baslinjedatum 2023-03-10",
        "Randomiseringsdatum",
    ),
    (_rand_twice, "randomisations", "duplicate_randomisation", "redan randomiserad på rad 2", "Studiekod"),
    (_baseline_unrandomised, "baseline", "not_randomised", "C0410M44 är inte (giltigt) randomiserad", "Studiekod"),
    (_followup_unrandomised, "followups", "not_randomised", "inte (giltigt) randomiserad", "Studiekod"),
    (_event_unrandomised, "events", "not_randomised", "inte (giltigt) randomiserad", "Studiekod"),
    (_assignment_unrandomised, "assignments", "not_randomised", "inte (giltigt) randomiserad", "Studiekod"),
    (_activity_unrandomised, "activity", "not_randomised", "inte (giltigt) randomiserad", "Studiekod"),
    (_employment_unrandomised, "employment", "not_randomised", "inte (giltigt) randomiserad", "Studiekod"),
    (_event_before_rand, "events", "before_randomisation", "före randomiseringen 2023-04-05", "Datum"),
    (_followup_before_rand, "followups", "before_randomisation", "före randomiseringen 2023-03-14", "Datum"),
    (
        _followup_bad_timepoint,
        "followups",
        "timepoint_unknown",
        "finns inte i uppföljningsschemat (6, 12, 18)",
        "Tidpunkt",
    ),
    (_followup_twice, "followups", "duplicate_followup", "finns redan på rad 2", "Tidpunkt"),
    (_stopped_ips_control, "events", "stopped_ips_control", "gäller bara IPS-gruppen", "Händelse"),
    (_unknown_specialist, "assignments", "unknown_specialist", "arbetsspecialisten Q finns inte", "Arbetsspecialist"),
    (_assignment_control, "assignments", "assignment_control", "är i kontrollgruppen", "Studiekod"),
    (_baseline_twice, "baseline", "duplicate_baseline", "finns redan på rad 2", "Studiekod"),
    (_employment_twice, "employment", "duplicate_employment", "finns redan på rad 2", "Tidpunkt"),
    (_fidelity_missing_item, "fidelity", "fidelity_incomplete", "saknar punkt T14", "Skattningsdatum"),
    (_fidelity_double_item, "fidelity", "fidelity_incomplete", "flera rader för punkt O1", "Skattningsdatum"),
]


@pytest.mark.parametrize(
    ("mutate", "key", "rule", "reason", "column"), CROSS_CASES, ids=[c[2] + "-" + c[1] for c in CROSS_CASES]
)
def test_validate_cross_rule_rejects_with_swedish_reason(mutate, key, rule, reason, column):
    rows = fx.study_rows()
    index = mutate(rows)
    results = _run(rows)
    own = [r for r in results[key].rejected if r.rule == rule]
    assert own, [r.line_sv() for r in _all_rejections(results)]
    rej = own[0]
    assert reason in rej.reason
    assert rej.column == column
    assert rej.file_name == f"{fx.FILE_NAMES[key]}.xlsx"
    if rule != "fidelity_incomplete":
        assert rej.row_number == fx.row_number(index)
        assert all(a.row_number != rej.row_number for a in results[key].accepted)
    else:
        assert results["fidelity"].accepted == []
        assert len(own) == len(rows["fidelity"]["rows"])


def test_validate_rereferral_after_three_months_accepted():
    rows = fx.study_rows()
    fx.set_cell(rows, "referrals", 4, "Remissdatum", D("2023-07-10"))  # exclusion 2023-04-10
    assert _all_rejections(_run(rows)) == []


def test_validate_rejected_randomisation_cascades_to_dependents():
    rows = fx.study_rows()
    fx.set_cell(rows, "randomisations", 0, "Grupp", "Okänd")
    results = _run(rows)
    rules = {(r.source_key, r.rule) for r in _all_rejections(results)}
    assert ("baseline", "not_randomised") in rules
    assert ("assignments", "not_randomised") in rules


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        ({"type": "missing", "msg": "Field required"}, "värde saknas"),
        ({"type": "int_parsing", "msg": "Input should be a valid integer"}, "är inget heltal"),
        ({"type": "string_type", "msg": "Input should be a valid string"}, "ska vara text"),
        ({"type": "date_from_datetime_inexact", "msg": "x"}, "klockslag"),
        ({"type": "date_ambiguous", "msg": "datumet 03/04 kan läsas på två sätt"}, "kan läsas på två sätt"),
        ({"type": "uuid_parsing", "msg": "Input should be a valid UUID"}, "ogiltigt värde (uuid_parsing)"),
    ],
)
def test_validate_reason_translates_builtin_errors(err, expected):
    assert expected in reason_sv(err)


def test_validate_speed_1000_rows_per_source():
    rows = fx.study_rows()
    base = rows["referrals"]["rows"][0]
    for i in range(2000):
        fx.add_row(rows, "referrals", {**base, "Studiekod": f"A{(i % 12) + 1:02d}01M{i:04d}"})
    started = time.perf_counter()
    results = _run(rows)
    assert time.perf_counter() - started < 2.0
    assert results["referrals"].rows_loaded == 2005


def test_validate_exclusion_after_randomisation_needs_date_and_reason():
    """A row rule of the randomisation log (issue 12): both fields or neither. The fast path must
    run it too (it runs `row_rules()`), so the row is rejected, naming the empty column."""
    rows = fx.set_cell(fx.study_rows(), "randomisations", 0, "Exkluderad efter randomisering", D("2023-05-02"))
    rows = fx.set_cell(rows, "randomisations", 1, "Orsak exklusion efter randomisering", None)
    results = _run(rows)
    own = [r for r in results["randomisations"].rejected if r.rule == "exclusion_after_pair"]
    assert [(r.row_number, r.column) for r in own] == [(fx.row_number(0), "Orsak exklusion efter randomisering")]
    assert "ska fyllas i, eller ingen av dem" in own[0].reason
    assert all(a.row_number != fx.row_number(0) for a in results["randomisations"].accepted)


@pytest.mark.parametrize(("typed", "stored"), [("62,5", 63), ("0,625", 63), ("12.5 %", 13), ("50", 50)])
def test_employment_share_typed_with_a_half_rounds_half_up(typed, stored):
    """Tjänstgöringsgrad 62,5 % is stored as 63 (Swedish reports round half up; round() gave 62)."""
    rows = fx.set_cell(fx.study_rows(), "specialists", 0, "Tjänstgöringsgrad", typed)
    results = _run(rows)
    first = next(a for a in results["specialists"].accepted if a.row_number == fx.row_number(0))
    assert first.row.employment_pct == stored
