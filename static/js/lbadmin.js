// Drain countdowns: an element with data-deadline (ISO time) shows the seconds
// left. Plain text stays in the element, so the page reads fine without JS.
(function () {
  function tick() {
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.deadline) - Date.now()) / 1000);
      el.textContent = left > 0 ? "drain ends in " + left + " s (or when its connections end)"
                                : "drain time over: being removed from the table";
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);
  document.addEventListener("DOMContentLoaded", tick);
})();

// Scheduler flags: the form offers only the chosen scheduler's own (each checkbox names its
// scheduler in data-scheduler); the row is hidden for a scheduler that reads none.
(function () {
  function sync() {
    var select = document.querySelector("select[name=scheduler]");
    var boxes = document.querySelectorAll("input[data-scheduler]");
    if (!select || !boxes.length) return;
    var shown = 0;
    boxes.forEach(function (box) {
      var mine = box.dataset.scheduler === select.value;
      (box.closest("label") || box).hidden = !mine;
      if (!mine) box.checked = false; else shown++;
    });
    var row = boxes[0].closest("tr");
    if (row) row.hidden = shown === 0;
  }
  document.addEventListener("change", function (event) { if (event.target.name === "scheduler") sync(); });
  document.addEventListener("DOMContentLoaded", sync);
  document.addEventListener("htmx:afterSettle", sync);
})();

// Copy buttons: a button with data-copy copies the text of the <pre> beside it.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) return;
  var pre = button.parentElement.querySelector("pre");
  navigator.clipboard.writeText(pre.textContent).then(function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = "Copy"; }, 1500);
  });
});

// Confirmations: a form with data-confirm asks before it posts. (No inline onsubmit: the
// Content-Security-Policy allows no inline script.)
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);

// Live panels (an element with data-live that polls) whose request fails say so in place,
// with the time they went stale, and are greyed (class "stale"), rather than showing their
// last good state as current. The next good answer replaces the whole panel, note and all.
(function () {
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function clock(d) { return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()); }
  function markStale(event, reason) {
    var panel = event.target.closest ? event.target.closest("[data-live]") : null;
    if (!panel) return;
    if (!panel.dataset.staleSince) panel.dataset.staleSince = clock(new Date());
    panel.classList.add("stale");
    var note = panel.querySelector(":scope > .stale-note[data-client]");
    if (!note) {
      note = document.createElement("p");
      note.className = "stale-note";
      note.dataset.client = "1";
      note.setAttribute("role", "status");
      panel.insertBefore(note, panel.firstChild);
    }
    note.textContent = "live data stale since " + panel.dataset.staleSince + ": " + reason + "; still trying";
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    markStale(event, "lbadmin answered HTTP " + status);
  });
  document.addEventListener("htmx:sendError", function (event) {
    markStale(event, "no answer from lbadmin (its web server or the network is down)");
  });
  document.addEventListener("htmx:timeout", function (event) {
    markStale(event, "lbadmin did not answer in time");
  });
})();

// Buttons only a page without JavaScript needs (data-without-js: SHOW ITS FIELDS, where
// HTMX swaps the fields on change) are removed, so Enter in a field still means ACCEPT.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.htmx) return;
  document.querySelectorAll("[data-without-js]").forEach(function (el) { el.remove(); });
});

// The live table's poll says which version the page shows (monitoring/live_diff.py): the
// server then answers nothing (204) or only the changed rows, as out-of-band swaps. A
// panel marked stale sends none, so the answer after a failed poll is the whole panel.
document.addEventListener("htmx:configRequest", function (event) {
  var panel = event.detail.elt;
  if (!panel || panel.id !== "live" || panel.classList.contains("stale")) return;
  var shown = document.getElementById("live-version");
  if (shown && shown.dataset.version) event.detail.headers["X-Live-Version"] = shown.dataset.version;
});
