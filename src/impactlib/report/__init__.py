"""Reports: what was measured, rendered for papers (Markdown, LaTeX) and for people (HTML).

Each renderer module exposes ``render(records, series, grid=None) -> str``; they share the
content built in :mod:`.methods` (methods paragraph, figures table), :mod:`.equivalents`
and :mod:`.grid`, so the formats never disagree. :mod:`.pepr` scores models against each
other. Nothing here is imported by ``import impactlib``; plotting is hand-built SVG
(:mod:`.svg`), so no optional dependency is needed to render any report.
"""
