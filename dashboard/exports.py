"""Bytes of the downloads behind every table and chart (CSV for Swedish Excel, and .xlsx).

Kept apart from the pages so tests can read exactly what a user would download.
"""

from __future__ import annotations

import io
from datetime import date

import pandas as pd


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """Semicolon-separated UTF-8 with BOM and decimal comma: opens correctly in Swedish Excel."""
    return frame.to_csv(index=False, sep=";", decimal=",").encode("utf-8-sig")


def xlsx_bytes(frame: pd.DataFrame, sheet: str = "Data", note: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(
        buffer,
        engine="xlsxwriter",
        date_format="yyyy-mm-dd",
        datetime_format="yyyy-mm-dd hh:mm",
        # Assembled in memory: by default xlsxwriter writes and deletes a temporary file per part.
        engine_kwargs={"options": {"in_memory": True}},
    ) as writer:
        start = 2 if note else 0
        frame.to_excel(writer, sheet_name=sheet[:31], index=False, startrow=start)
        sheet_obj = writer.sheets[sheet[:31]]
        if note:
            sheet_obj.write(0, 0, note)
        for i, column in enumerate(frame.columns):
            width = max([len(str(column))] + [len(str(v)) for v in frame[column].head(200)]) + 2
            sheet_obj.set_column(i, i, min(width, 50))
        sheet_obj.freeze_panes(start + 1, 0)
    return buffer.getvalue()


def file_stem(topic: str, cutoff: date | None) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in topic.lower()).strip("_")
    return f"ips_{safe}_{cutoff.isoformat() if cutoff else 'tom'}"
