// Intake form: "use my current location" fills the latitude/longitude fields (optional; the
// form works without JavaScript).
(function () {
  "use strict";
  var button = document.getElementById("use-location");
  var lat = document.getElementById("lat");
  var lon = document.getElementById("lon");
  if (!button || !lat || !lon || !("geolocation" in navigator)) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (position) {
      lat.value = position.coords.latitude.toFixed(6);
      lon.value = position.coords.longitude.toFixed(6);
      button.disabled = false;
    }, function () { button.disabled = false; }, { enableHighAccuracy: true, timeout: 10000 });
  });
})();
