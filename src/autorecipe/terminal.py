"""Untrusted text (class names, file names, messages that quote them) made safe to show: control characters
made visible, so that an escape sequence in a file name cannot move the cursor or recolour the terminal, and
rich's markup escaped, so that `[/]` in a class name is shown as it is."""

from __future__ import annotations

import re

from rich.markup import escape

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 (but tab and newline), DEL and C1


def visible(text: object) -> str:
    """`text` with every control character but tab and newline written as its escape, e.g. \\x1b."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text))


def safe(text: object) -> str:
    """`text` to print with rich: control characters visible and markup escaped."""
    return escape(visible(text))
