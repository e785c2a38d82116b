"""The contract page is generated from the models: it must be current and every field documented."""

from __future__ import annotations

import pytest

from etl import contract_doc
from schema.sources import SOURCES


def test_contract_doc_is_up_to_date():
    assert contract_doc.DOC_PATH.read_text(encoding="utf-8") == contract_doc.render(), (
        "docs/contract.md is stale: run `python -m etl.contract_doc`"
    )


@pytest.mark.parametrize("src", SOURCES, ids=[s.key for s in SOURCES])
def test_contract_every_field_has_swedish_header_and_explanation(src):
    for name, field in src.model.model_fields.items():
        extra = field.json_schema_extra or {}
        assert extra.get("header"), f"{src.key}.{name} has no Swedish header"
        assert extra.get("doc"), f"{src.key}.{name} has no explanation"


@pytest.mark.parametrize("src", SOURCES, ids=[s.key for s in SOURCES])
def test_contract_every_source_states_its_rules(src):
    assert contract_doc.rules_of(src.key)


def test_contract_states_declared_ranges_and_every_rule_id():
    text = contract_doc.render()
    assert "heltal 1900–2100" in text and "heltal 1–14" in text
    from etl.rules import CROSS_FILE_RULES, ROW_RULES

    for rule in [r.rule for r in ROW_RULES] + [r for _, r, _ in CROSS_FILE_RULES]:
        assert f"(`{rule}`)" in text
