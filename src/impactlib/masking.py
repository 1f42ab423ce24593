"""Secrets out of records and outputs: a store URL's password, an API key.

A setting can hold a secret (``postgresql://alice:secret@db/impact``, the Electricity Maps
key) that the tool needs but no record, report or copied store may keep: records travel
(``sync`` copies them into the lab's store, reports are published). Everything that stores
or prints settings masks them here, in one place: the configuration's public values
(:meth:`impactlib.config.Config.public_dict`), ``sync`` (for runs written by an older
version) and the store migration that cleans records already kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_KEYS = ("electricitymaps_key",)  # settings that are a secret as a whole
URL_KEYS = ("store",)  # settings that may be a URL with a password in it
_PASSWORD_PARAMS = ("password",)  # libpq and SQLAlchemy accept ?password=...


def masked_url(value: str) -> str:
    """``value`` with a URL's password (``user:PASSWORD@host`` or ``?password=``) replaced by
    ``***``; the user, host and database stay, so the record still says where it went. A
    path, or a URL without a password, is returned unchanged."""
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        has_password = parts.password is not None
    except ValueError:  # not parseable as a URL (a bad port...): keep nothing after the scheme
        return f"{value.split('://', 1)[0]}://{MASK}"
    netloc = parts.netloc
    if has_password:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(name.lower() in _PASSWORD_PARAMS for name, _ in pairs):
        query = urlencode(
            [(n, MASK if n.lower() in _PASSWORD_PARAMS else v) for n, v in pairs], safe="*"
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def masked_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Configuration values fit to store or show: secrets replaced by ``***``."""
    out = dict(values)
    for key in SECRET_KEYS:
        if out.get(key):
            out[key] = MASK
    for key in URL_KEYS:
        if isinstance(out.get(key), str):
            out[key] = masked_url(out[key])
    return out


def cleaned_config_json(text: str | None) -> str | None:
    """A stored record's ``config`` column (JSON) with its settings' secrets masked;
    anything that is not such a JSON object is returned as it is."""
    if not text:
        return text
    try:
        config = json.loads(text)
    except ValueError:
        return text
    values = config.get("values") if isinstance(config, dict) else None
    if not isinstance(values, dict):
        return text
    masked = masked_values(values)
    if masked == values:
        return text
    return json.dumps({**config, "values": masked})
