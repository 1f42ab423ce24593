"""Meters: where energy numbers come from. One module per source, one interface (``base.Meter``)."""
