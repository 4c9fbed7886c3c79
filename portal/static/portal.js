// Behaviour the pages declare with data- attributes, so that no page needs inline script
// (the Content-Security-Policy allows none, see portal/blueprints/security_headers.py).

// <form data-reset-after-success>: emptied once htmx has posted it successfully (a message sent).
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.detail.elt;
  if (event.detail.successful && form.matches && form.matches("form[data-reset-after-success]")) {
    form.reset();
  }
});

// A region htmx replaces (the invoice list's results, a dispute's thread) is summed up for screen readers:
// when its summary ("12 invoices. Page 2 of 3", "Status: Open. 4 messages") changes, the new one is
// written into the status region (role=status) that names it in data-summary-of. That region is in the
// page from the start, as a live region must be to be read out; a poll that changed nothing says nothing.
function summaryOf(region) {
  return Array.prototype.map.call(region.querySelectorAll("[data-summary]"), function (part) {
    return part.textContent.replace(/\s+/g, " ").trim();
  }).join(". ");
}
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-summary-of]").forEach(function (status) {
    var region = document.querySelector(status.dataset.summaryOf);
    status.dataset.summary = region ? summaryOf(region) : "";
  });
});
document.addEventListener("htmx:afterSettle", function (event) {
  var target = event.detail.target;
  document.querySelectorAll("[data-summary-of]").forEach(function (status) {
    // The region as it is now: an outerHTML swap leaves `target` the element it replaced.
    var region = document.querySelector(status.dataset.summaryOf);
    if (!region || !target.matches || !target.matches(status.dataset.summaryOf)) {
      return;
    }
    var summary = summaryOf(region);
    if (summary !== status.dataset.summary) {
      status.dataset.summary = summary;
      status.textContent = summary;
    }
  });
});

// When htmx swaps out the element that had the focus (a pager link, "Stop autopay…"), the keyboard
// would start again from the top of the page: the focus goes to the region swapped in instead.
var swappedFocusRegion = null;
document.addEventListener("htmx:beforeSwap", function (event) {
  var target = event.detail.target;
  var focused = document.activeElement;
  swappedFocusRegion = target.id && focused && focused !== document.body && target.contains(focused) ? target.id : null;
});
document.addEventListener("htmx:afterSettle", function () {
  var region = swappedFocusRegion && document.getElementById(swappedFocusRegion);
  swappedFocusRegion = null;
  if (!region || (document.activeElement && document.activeElement !== document.body)) {
    return;
  }
  if (!region.hasAttribute("tabindex")) {
    region.setAttribute("tabindex", "-1");
  }
  region.focus();
});
