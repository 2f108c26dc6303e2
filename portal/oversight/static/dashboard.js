// Draws the dashboard's Plotly figures: each <div class="ov-plot" data-figure="URL"> gets the
// figure (data + layout JSON built by the server) fetched from URL. No inline script (CSP).
(function () {
  "use strict";
  function draw(el) {
    fetch(el.getAttribute("data-figure"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (figure) {
        el.textContent = "";
        return window.Plotly.newPlot(el, figure.data, figure.layout, {
          responsive: true, displaylogo: false, modeBarButtonsToRemove: ["sendDataToCloud"]
        });
      })
      .then(function () { el.setAttribute("data-drawn", "1"); })
      .catch(function () { el.setAttribute("data-drawn", "error"); });
  }
  function start() {
    if (!window.Plotly) { return; }
    document.querySelectorAll(".ov-plot[data-figure]").forEach(draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
