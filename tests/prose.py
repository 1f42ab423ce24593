"""What a paper's methods prose must not contain: the report and demo tests share one rule."""

from __future__ import annotations

import re

# URLs, commands and options, error codes, setting and variable names (snake_case,
# IMPACTLIB_*), paths, markup, tracebacks and scientific notation (Python writes its
# exponent with a sign, 1.5e-07 or 1e+16, which tells it from a run id such as 3481e7b8):
# notes, not prose.
NOT_PROSE = re.compile(
    r"https?://|www\.|arXiv|`|\bErrno\b|\bsudo\b|\bpip\b|modprobe|--\w|IMPACTLIB_|\b\w+_\w+\b"
    r"|=|(?:^|\s)/\w|\[|\bTraceback\b|\d[eE][-+]\d"
)
