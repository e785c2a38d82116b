"""The loader: read, scan, validate and load the study's files into the DuckDB store."""

import os

# polars allocates through its own jemalloc, which by default keeps freed pages for reuse instead
# of returning them: a scale-100 load's cells are about 20 MB, but its process held 150 MB more
# than that (issue 11's peak-memory target). Returning freed pages at once costs no measurable time
# here (bench/RESULTS.md). jemalloc reads this variable (its documented MALLOC_CONF, under the
# `_RJEM_` prefix polars' build uses) once, when polars first allocates, so it is set before any
# module of this package imports polars; a value set by the operator wins. See
# https://github.com/pola-rs/polars/issues/23128 and https://jemalloc.net/jemalloc.3.html#opt.dirty_decay_ms
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
