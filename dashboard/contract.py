"""What the pages need from the lower layers (the data contract and the loader's rejection
grouping), re-exported here so that page scripts import from `dashboard` only.

The page scripts in `dashboard/pages/` are not a package, so the import-linter contract in
pyproject.toml cannot see them; tests/test_layers.py checks their imports instead.
"""

from __future__ import annotations

from etl.validate import group_rejections, refs_text
from schema import vocab
from schema.sources import SOURCES

__all__ = ["SOURCES", "group_rejections", "refs_text", "vocab"]
