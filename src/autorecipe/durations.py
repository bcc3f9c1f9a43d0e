"""Durations written as 90, 90s, 10m, 1.5h or 1h30m."""

from __future__ import annotations

import re

from .errors import AutorecipeError


def parse_duration(value: str | float | int, positive: bool = True) -> float:
    """Seconds in a duration: a number of seconds, or text such as 90s, 10m, 1.5h, 1h30m; `positive`: zero or
    less is an error (else the caller says why it cannot be)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif parts and "".join(n + u for n, u in parts) == text:
            seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
        else:
            raise AutorecipeError(f"{value!r} is not a duration; use e.g. 90s, 10m, 1.5h or 1h30m")
    if positive and not seconds > 0:
        raise AutorecipeError(f"{value!r}: a duration must be positive")
    return seconds
