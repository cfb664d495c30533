"""The book's words: every sentence a page glues and every table it shows as text, written from the tables and
dicts that the analysis rooms return (:mod:`gtg_core.paper`, :mod:`gtg_core.beyond`, :mod:`gtg_core.findings`,
:mod:`gtg_core.heldout`, :mod:`gtg_core.study`). The analysis computes; this room, above the figures, formats.
Number formats shared with the figures live one floor down, in :mod:`gtg_core.formatting`.

- :mod:`.paper`: Table 3 and its pairs as shown, the ranking in a sentence, the claims' and speed's texts;
- :mod:`.heldout`: the held-out Table 3 section;
- :mod:`.findings`: "What we found": the claims' rows, the counts, the answer box;
- :mod:`.beyond`: the Beyond chapter's comparisons and the learned Eq. 6;
- :mod:`.study`: a comparison in a line, a study's cost, the precision check's Markdown.
"""

from .beyond import (changes_text, claims_by_user_table, claims_change_text, comparison_table, comparison_texts,
                     eq6_facts, eq6_text, gain_text, progress_text, ranking_facts, shift_text, user_table_wide)
from .findings import (adjusted_text, answer_page, answer_texts, direction, estimate_text, evidence_text,
                       findings_facts, findings_table)
from .heldout import heldout_report
from .paper import (TABLE3_HEADERS, changed_by_holm, claim_texts, count, effect_text, order_text, pairs_display,
                    ranking_text, speed_texts, table3_display)
from .study import (comparison_text, cost_text, design_display, duration_text, length_choice_text,
                    precision_markdown)

__all__ = ["TABLE3_HEADERS", "adjusted_text", "answer_page", "answer_texts", "changed_by_holm", "changes_text",
           "claim_texts", "claims_by_user_table", "claims_change_text", "comparison_table", "comparison_text",
           "comparison_texts", "cost_text", "count", "direction", "duration_text", "effect_text", "eq6_facts",
           "eq6_text", "estimate_text", "evidence_text", "findings_facts", "findings_table", "gain_text",
           "design_display", "heldout_report", "length_choice_text", "order_text", "pairs_display",
           "precision_markdown", "progress_text", "ranking_facts", "ranking_text", "shift_text", "speed_texts", "table3_display", "user_table_wide"]
