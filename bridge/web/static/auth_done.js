// Final page of the Authentication URL popup (asana-app-components.md §7.1): tell the
// opener (Asana) how it went, with targetOrigin exactly Asana's origin, then close.
(function () {
  var el = document.getElementById("auth-done");
  if (!el) return;
  var message = el.getAttribute("data-message") === "success" ? "success" : "error";
  var target = el.getAttribute("data-target-origin");
  if (window.opener && target) {
    window.opener.postMessage(message, target);
    // Close on success at once; on error leave the sentence readable for a moment.
    window.setTimeout(function () { window.close(); }, message === "success" ? 300 : 6000);
  }
})();
