"""How the book prints a verdict's numbers: one room for the formatters every page and analysis shares (it
imports nothing of gtg_core, so any room may use it). The sentences themselves are written in
:mod:`gtg_core.words`; their numbers come out of here.

- :func:`compact`: a number, a mapping or a sequence as short text (floats to 3 decimals);
- :func:`signed`: a margin or an interval end with its sign;
- :func:`interval_text`: ``[low, high]`` of :func:`signed` ends, or "" where there is no interval.
"""

from __future__ import annotations

__all__ = ["compact", "interval_text", "signed"]


def compact(value) -> str:
    """Numbers of a verdict as short text: floats to 3 decimals (integral floats without them), mappings as
    ``key: value`` pairs joined by "; ", sequences joined by " > " ("none" when empty), anything else str()."""
    if isinstance(value, dict):
        return "; ".join(f"{compact(k)}: {compact(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return " > ".join(compact(v) for v in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() else f"{value:.3f}"
    return str(value)


def signed(value: float) -> str:
    """A margin or an interval end: 3 decimals with the sign, or 2 significant digits where 3 decimals would
    print a non-zero value as +0.000 (M5 margins of a few ten-thousandths)."""
    return f"{value:+.1e}" if value and abs(value) < 5e-4 else f"{value:+.3f}"


def interval_text(interval) -> str:
    """"[low, high]" (:func:`signed`), or "" for no interval (or one no test could give: NaN)."""
    if not interval or any(x != x for x in interval):
        return ""
    return f"[{signed(interval[0])}, {signed(interval[1])}]"
