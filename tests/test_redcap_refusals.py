"""Issue 12, point 7: REDCap edge cases. An API export with rawOrLabel=label (raw headers over
label values) reads like the raw export; a DAG or event missing from the mapping is a designed
refusal naming file, line, value and the line to add to the mapping, never "oväntat fel"."""

from __future__ import annotations

import csv
import io
import shutil

import pytest

from etl.load import load
from etl.redcap_export import write_redcap_export
from etl.tables import SourceFileError
from tests.test_redcap import CONFIG, demo_rows, tables


def _api_label_export(tmp_path):
    """The raw export's header row over the labels export's values, as the API's
    rawOrLabel=label (rawOrLabelHeaders=raw, its default) writes them."""
    baseline, followups, districts, randomised = demo_rows(25, seed=11)
    write_redcap_export(tmp_path / "raw", baseline, followups, districts, CONFIG, randomised)
    write_redcap_export(tmp_path / "api", baseline, followups, districts, CONFIG, randomised, labels=True)
    raw_lines = (tmp_path / "raw" / "records.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
    api_path = tmp_path / "api" / "records.csv"
    api_text = api_path.read_text(encoding="utf-8-sig")
    api_rows = list(csv.reader(io.StringIO(api_text)))
    raw_header = next(csv.reader(io.StringIO(raw_lines[0])))
    assert len(raw_header) == len(api_rows[0])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([raw_header, *api_rows[1:]])
    api_path.write_text(out.getvalue(), encoding="utf-8")
    return tmp_path / "raw", tmp_path / "api", api_rows


def test_api_label_values_under_raw_headers_read_like_raw_export(tmp_path):
    raw, api, api_rows = _api_label_export(tmp_path)
    # the values really are labels ("Complete", event labels), the header really is raw
    assert any("Complete" in row or "Komplett" in row for row in api_rows[1:])
    first = (api / "records.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "redcap_event_name" in first
    got, want = tables(api), tables(raw)
    for key in ("baseline", "followups"):
        assert [(r.row_number, r.values) for r in got[key].rows] == [(r.row_number, r.values) for r in want[key].rows]
    assert len(got["followups"].rows) > 0


def _demo_with_redcap(tmp_path):
    from etl.demo import generate

    folder = tmp_path / "in"
    generate(folder, seed=42, scale=1, redcap=True)
    return folder


def _rewrite_cell(path, column: str, old: str, new: str) -> int:
    """Replace `old` by `new` in `column` of the first row that has it; returns its line number."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    index = rows[0].index(column)
    for number, row in enumerate(rows[1:], start=2):
        if row[index] == old:
            row[index] = new
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows)
            path.write_text(out.getvalue(), encoding="utf-8")
            return number
    raise AssertionError(f"{old} not found in {column}")


def _load(folder, db):
    out, err = io.StringIO(), io.StringIO()
    status = load(folder, db, out, err)
    return status, err.getvalue()


def test_unmapped_dag_is_a_designed_refusal_with_the_line_to_add(tmp_path):
    folder = _demo_with_redcap(tmp_path)
    records = folder / "redcap" / "records.csv"
    dags = {
        row["redcap_data_access_group"] for row in csv.DictReader(io.StringIO(records.read_text(encoding="utf-8-sig")))
    }
    line = _rewrite_cell(records, "redcap_data_access_group", sorted(d for d in dags if d)[0], "spanga_tensta")
    status, err = _load(folder, tmp_path / "ips.duckdb")
    assert status == 2
    assert "oväntat" not in err
    assert "records.csv" in err and f"rad {line}" in err and "spanga_tensta" in err
    assert "[dags.spanga_tensta]" in err and "district =" in err
    assert not (tmp_path / "ips.duckdb").exists()


def test_unknown_event_label_is_a_designed_refusal_with_the_line_to_add(tmp_path):
    baseline, followups, districts, randomised = demo_rows(12, seed=5)
    folder = tmp_path / "lab"
    write_redcap_export(folder, baseline, followups, districts, CONFIG, randomised, labels=True)
    records = folder / "records.csv"
    header = next(csv.reader(io.StringIO(records.read_text(encoding="utf-8-sig"))))
    event_col = header[1]
    line = _rewrite_cell(
        records,
        event_col,
        next(
            row[1] for row in csv.reader(io.StringIO(records.read_text(encoding="utf-8-sig"))) if row[1].startswith("6")
        ),
        "24 månader (Arm 1: Arm 1)",
    )
    with pytest.raises(SourceFileError) as exc:
        tables(folder)
    message = exc.value.message_sv
    assert exc.value.file_name == "records.csv"
    assert f"rad {line}" in message and "24 månader" in message
    assert "[event_labels]" in message and '"24 månader (Arm 1: Arm 1)" =' in message


def test_every_reader_refusal_is_reported_as_designed(tmp_path):
    """A REDCap folder whose mapping is broken: refused with its message, not as an unexpected error."""
    folder = _demo_with_redcap(tmp_path)
    mapping = folder / "redcap" / "mapping.toml"
    if not mapping.exists():
        from etl.redcap import DEFAULT_MAPPING

        shutil.copy(DEFAULT_MAPPING, mapping)
    mapping.write_text(mapping.read_text(encoding="utf-8").replace("[followup]", "[followup_x]"), encoding="utf-8")
    status, err = _load(folder, tmp_path / "ips.duckdb")
    assert status == 2
    assert "oväntat" not in err and "mapping.toml" in err and "Inget har lästs in." in err
