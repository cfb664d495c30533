"""Decision tables that read on any screen: a verdict table's HTML with every cell labelled by its column, so
that below a breakpoint the book's stylesheet (``gtg.css``, ``table.gtg-decision``) shows each row as a card
of "column: value" lines instead of a table wider than the phone; above it the table wraps inside the
article. pandas formats the values (the notebook's display options), nothing is recomputed here."""

from __future__ import annotations

import html
import re

#: The class the stylesheet keys on.
DECISION_CLASS = "gtg-decision"


class DecisionTable:
    """A DataFrame shown as a decision table (:func:`decision_table`); ``.frame`` is the DataFrame."""

    def __init__(self, frame, index: bool):
        self.frame, self.index = frame, index

    def labels(self) -> list:
        """The label of each cell of a row, in order: the index's name (or "") first when shown, then the
        columns."""
        names = [str(c) for c in self.frame.columns]
        return ([str(self.frame.index.name or "")] if self.index else []) + names

    def _repr_html_(self) -> str:
        raw = self.frame.to_html(index=self.index, classes=[DECISION_CLASS], border=0, na_rep="", index_names=False)
        labels = [html.escape(label, quote=True) for label in self.labels()]
        head, _, body = raw.partition("<tbody>")
        if self.index and labels[0]:  # the index's header names it (pandas leaves it empty)
            head = head.replace("<th></th>", f"<th>{labels[0]}</th>", 1)

        def label_row(match):
            cells = iter(labels)
            return re.sub(r"<(td|th)(\s[^>]*)?>", lambda m: f'<{m.group(1)}{m.group(2) or ""} '
                          f'data-label="{next(cells, "")}">', match.group(0))

        return head + "<tbody>" + re.sub(r"<tr[^>]*>.*?</tr>", label_row, body, flags=re.S)

    def __repr__(self) -> str:
        return repr(self.frame)


def decision_table(frame, *, index: bool | None = None) -> DecisionTable:
    """``frame`` (a DataFrame) as a decision table: HTML whose cells carry their column's name
    (``data-label``), which the book's stylesheet turns into cards on a narrow screen. ``index``: show the
    index as the first column; by default only when it says something (not a plain 0..n-1 range)."""
    import pandas as pd

    if index is None:
        index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
    return DecisionTable(frame, bool(index))
