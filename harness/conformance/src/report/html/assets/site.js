// Filters for a mimi-conformance report: by link, verdict and provider. The page reads fine
// without this script; with it, rows (and matrix cells) that do not match are hidden (dimmed),
// and the choice is kept in the address (?link=B&verdict=fail) so that a filtered view has a
// permalink. Rows carry the values they match as space-separated tokens in data-link,
// data-verdict and data-provider; a matrix cell also carries data-pairs ("B:fail A:pass"), so
// that link and verdict together pick the cells with that verdict on that link.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) { return; }
  var keys = ["link", "verdict", "provider"];
  var params = new URLSearchParams(window.location.search);
  keys.forEach(function (k) {
    var select = form.elements[k];
    var wanted = params.get(k);
    if (select && wanted) {
      var known = Array.prototype.some.call(select.options, function (o) { return o.value === wanted; });
      if (known) { select.value = wanted; }
    }
  });
  form.hidden = false;
  function has(el, key, value) {
    if (!value || !el.hasAttribute("data-" + key)) { return true; }
    return el.getAttribute("data-" + key).split(" ").indexOf(value) >= 0;
  }
  function apply() {
    var want = {};
    keys.forEach(function (k) { want[k] = form.elements[k] ? form.elements[k].value : ""; });
    var shown = 0;
    document.querySelectorAll("[data-filter]").forEach(function (el) {
      var ok = keys.every(function (k) { return has(el, k, want[k]); });
      if (ok && want.link && want.verdict && el.hasAttribute("data-pairs")) {
        ok = el.getAttribute("data-pairs").split(" ").indexOf(want.link + ":" + want.verdict) >= 0;
      }
      if (el.getAttribute("data-filter") === "dim") {
        el.classList.toggle("dimmed", !ok);
      } else {
        el.hidden = !ok;
      }
      if (ok) { shown += 1; }
    });
    document.querySelectorAll("[data-only-link]").forEach(function (el) {
      el.hidden = want.link !== "" && el.getAttribute("data-only-link") !== want.link;
    });
    var count = document.getElementById("filter-count");
    if (count) { count.textContent = shown + " shown"; }
    var query = new URLSearchParams();
    keys.forEach(function (k) { if (want[k]) { query.set(k, want[k]); } });
    var search = query.toString();
    try {
      window.history.replaceState(null, "", window.location.pathname + (search ? "?" + search : "") + window.location.hash);
    } catch (e) {
      // Some browsers refuse to change the address of a file: page; the filter still applies.
    }
    document.body.setAttribute("data-filtered", search);
  }
  form.addEventListener("change", apply);
  apply();
}());
