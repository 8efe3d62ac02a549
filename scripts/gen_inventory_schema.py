"""Writes docs/inventory-file.schema.json, the JSON Schema of inventory files, from the inventory model (committed;
tests/test_inventory_file.py checks it is current).

Run after changing the inventory model (service/ftvm/domain/inventory_model.py, inventory_file.py):
`python3 scripts/gen_inventory_schema.py`.
"""

from __future__ import annotations

import pathlib

from ftvm.domain.inventory_file import schema_text

SCHEMA = pathlib.Path(__file__).resolve().parent.parent / "docs" / "inventory-file.schema.json"

if __name__ == "__main__":
    SCHEMA.write_text(schema_text(), encoding="utf-8")
