// Live progress of a background job: poll its JSON, fill the [data-field] elements, reload when done.
(function () {
  "use strict";
  var box = document.querySelector("[data-job]");
  if (!box) { return; }
  var url = "/dashboard/jobs/" + box.getAttribute("data-job") + ".json";
  var bar = box.querySelector("progress");
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        box.querySelectorAll("[data-field]").forEach(function (el) {
          var v = s[el.getAttribute("data-field")];
          if (v !== undefined && v !== null) { el.textContent = typeof v === "number" ? v.toLocaleString() : v; }
        });
        if (bar && s.percent !== null) { bar.value = s.percent; }
        if (s.state === "running") { setTimeout(poll, 500); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 300);
}());
