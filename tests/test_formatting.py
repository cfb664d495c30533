"""The formatters every page's numbers go through (issue #36: one public room instead of private names that
pages reached across modules)."""

import math

from gtg_core import formatting


def test_compact_signed_and_interval_text():
    assert formatting.compact(0.12345) == "0.123" and formatting.compact(3.0) == "3" and formatting.compact(7) == "7"
    assert formatting.compact({"disk": 0.5, "n": 2}) == "disk: 0.500; n: 2"
    assert formatting.compact(["disk", "heatmap"]) == "disk > heatmap" and formatting.compact([]) == "none"
    assert formatting.signed(0.0123) == "+0.012" and formatting.signed(-0.0002) == "-2.0e-04"
    assert formatting.signed(0.0) == "+0.000"
    assert formatting.interval_text((-0.01, 0.2)) == "[-0.010, +0.200]"
    assert formatting.interval_text(None) == "" and formatting.interval_text((math.nan, 1.0)) == ""


def test_no_room_reaches_a_private_formatter_of_another():
    """paper._compact, _signed and _interval_text were imported by findings and beyond; they are public here."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "gtg_core"
    for path in root.rglob("*.py"):
        text = path.read_text()
        for name in ("_compact(", "_signed(", "_interval_text("):
            assert name not in text, f"{path.relative_to(root)} uses {name[:-1]}"
