"""Reports: what was measured, for people (tables, HTML), papers (Markdown, LaTeX) and scripts
(JSON, CSV).

:mod:`.figures` computes the figures people read once from the run records (totals, the
share a meter read, location, metrics, settings, SLURM job) and :mod:`.lab` those of a lab
report; each format is one module listed in :mod:`.formats` that only lays them out, so the
formats never disagree. The paper formats share the prose of :mod:`.methods`, the
everyday equivalents of :mod:`.equivalents` and the criteria grid of :mod:`.grid`. Nothing
here is imported by ``import impactlib``; plotting is hand-built SVG (:mod:`.svg`), so no
optional dependency is needed to render any report.
"""
