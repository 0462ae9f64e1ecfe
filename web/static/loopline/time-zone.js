// Tell the server this browser's time zone (a cookie), so pages show times in it unless the person chose one.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (err) { return; }
  if (!zone || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) { return; }
  var name = document.documentElement.getAttribute("data-zone-cookie") || "loopline_tz";
  var current = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
  if (current !== name + "=" + zone) {
    document.cookie = name + "=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
  }
})();
