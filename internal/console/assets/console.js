// umbra console: ask before destructive actions. Everything else works
// without JavaScript.
document.addEventListener("submit", function (e) {
  var b = e.submitter || e.target.querySelector("button[data-confirm]");
  var msg = b && b.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});
