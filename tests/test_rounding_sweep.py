"""No stray rounding (issue 12): every share, mean or rate a person reads is rounded on the server by
the one half-up function (schema/rounding.py). Python's `round` rounds half to even (and works on
binary floats), a `:.1f` or `%.0f` format does the same, and a Vega-Lite/Streamlit number format
rounds in the browser. This scan of the dashboard, report and ETL code keeps them from coming back.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["dashboard", "ipsdash", "etl", "schema"]
# Files that show no figure to a person, each with its reason.
NOT_SHOWN = {
    "etl/demo.py": "generates the synthetic study's input files; its rounding shapes data, not a shown figure",
    "schema/rounding.py": "the one rounding function itself",
    "etl/load.py": "only the load's duration in seconds, not a study figure",
}
# A number format that rounds: printf/f-string `.Nf`/`.N%`/`e`/`g`, d3's `%`, `.1%`, `.3f`, `~s`.
ROUNDING_FORMAT = re.compile(r"\.\d*[efg%]|^%$|^[,~]?\.?\d*%$|[~,]?\.\d+[sr]|^~s$")
DATE_FORMAT = re.compile(r"%[YmdHMSbBaAejyI]")


def _files() -> list[Path]:
    out = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() not in NOT_SHOWN:
                out.append(path)
    return out


def _rounding_format(text: str) -> bool:
    if DATE_FORMAT.search(text) and not re.search(r"%[-+ 0#]*\d*\.\d+f", text):
        return False
    return bool(ROUNDING_FORMAT.search(text)) or bool(re.search(r"%[-+ 0#]*\d*\.\d+f", text))


def stray_rounding(source: str) -> list[str]:
    """Every place in `source` that rounds a number for display outside schema/rounding.py."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "round":
                found.append(f"line {node.lineno}: round()")
            if isinstance(f, ast.Attribute) and f.attr in {"round", "around", "round_"}:
                found.append(f"line {node.lineno}: .{f.attr}()")
            for kw in node.keywords:
                if kw.arg == "format" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    if _rounding_format(kw.value.value):
                        found.append(f"line {node.lineno}: format={kw.value.value!r}")
            if isinstance(f, ast.Name) and f.id == "format" and len(node.args) == 2:
                spec = node.args[1]
                if isinstance(spec, ast.Constant) and isinstance(spec.value, str) and _rounding_format(spec.value):
                    found.append(f"line {node.lineno}: format(x, {spec.value!r})")
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            spec = "".join(
                str(v.value) for v in node.format_spec.values if isinstance(v, ast.Constant)
            )  # e.g. ".1f", ".0%", "%Y-%m-%d" (a date: fine)
            if re.search(r"\d*\.\d+[efg%]$|^%$|[efg%]$", spec) and not DATE_FORMAT.search(spec):
                found.append(f"line {node.lineno}: f-string :{spec}")
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
            and re.search(r"%[-+ 0#]*\d*\.\d+[efg]", node.left.value)
        ):
            found.append(f"line {node.lineno}: {node.left.value!r} % …")
    return found


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_stray_rounding_in_shown_code(path):
    hits = stray_rounding(path.read_text(encoding="utf-8"))
    assert not hits, f"{path.relative_to(ROOT)} rounds outside schema/rounding.py: {hits}"


@pytest.mark.parametrize(
    "snippet",
    [
        "x = round(a / b, 1)",
        "x = frame['a'].round(1)",
        "t = f'{share * 100:.0f} %'",
        "t = f'{share:.1%}'",
        "c = alt.Axis(format='%')",
        "c = alt.Tooltip('SMD:Q', format='.3f')",
        "c = st.column_config.NumberColumn('Per heltid', format='%.1f')",
        "t = '%.1f' % x",
        "t = format(x, '.2f')",
        "c = np.round(a, 1)",
    ],
)
def test_sweep_finds_each_kind_of_stray_rounding(snippet):
    assert stray_rounding(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "t = f'{day:%Y-%m-%d}'",
        "c = alt.Tooltip('day:T', format='%Y-%m')",
        "c = st.column_config.NumberColumn('Dagar', format='%d')",
        "c = st.column_config.ProgressColumn('Andel', format='%d %%')",
        "x = rounding.round_half_up(a, 1)",
        "t = f'{n} av {m}'",
    ],
)
def test_sweep_leaves_dates_and_whole_numbers_alone(snippet):
    assert not stray_rounding(snippet), snippet
