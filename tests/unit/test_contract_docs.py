"""docs/raw_contract.md is the contract reference generated from the code: kept in sync."""

from pathlib import Path

from notiflow import contract_docs
from notiflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_reference_is_the_generated_one():
    generated = contract_docs.reference(Settings.load().dbt_project_dir)
    committed = (ROOT / "docs" / "raw_contract.md").read_text()
    assert committed == generated, (
        "docs/raw_contract.md is stale: python -m notiflow.contract_docs > docs/raw_contract.md"
    )


def test_every_contract_table_and_column_has_a_meaning():
    assert contract_docs.undocumented(Settings.load().dbt_project_dir) == []


def test_an_undocumented_column_is_named(tmp_path, monkeypatch):
    from notiflow import contracts

    tables = dict(contracts.RAW_TABLES)
    tables["users"] += ",\n        loyalty_tier varchar"
    monkeypatch.setattr(contracts, "RAW_TABLES", tables)
    assert contract_docs.undocumented(Settings.load().dbt_project_dir) == ["users.loyalty_tier"]
    assert "| `loyalty_tier` | varchar | yes |  |" in contract_docs.reference(
        Settings.load().dbt_project_dir
    )
