// Decision tables (gtg_core.viz.decision_table) that do not fit their output at this width become cards
// (gtg.css, table.gtg-decision.gtg-cards) instead of scrolling sideways and hiding columns.
(function () {
  function fit() {
    document.querySelectorAll("table.gtg-decision").forEach(function (table) {
      table.classList.remove("gtg-cards");
      var box = table.closest("div.output") || table.parentElement;
      if (box.scrollWidth > box.clientWidth + 1) table.classList.add("gtg-cards");
    });
  }
  window.addEventListener("load", fit);
  window.addEventListener("resize", fit);
})();
