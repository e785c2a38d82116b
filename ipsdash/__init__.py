"""The command line: the top layer, standing on dashboard, etl and schema (see pyproject.toml)."""
