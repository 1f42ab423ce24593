"""Who pays for each joule: pure share arithmetic (``shares``), one tracker's window over
the shared samples (``window``), the host power model that supplies idle floors, and
multi-rank roles (``ranks``)."""
