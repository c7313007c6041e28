// Progressive enhancement for valet's pages. Every form and link works
// without this file; it only makes times local and passwords revealable.
(function () {
  "use strict";

  // The server writes times in UTC; show them in the reader's time zone,
  // keeping the UTC text as a tooltip.
  var format = null;
  try {
    format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    format = null;
  }
  if (format) {
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        el.title = el.textContent;
        el.textContent = format.format(d);
      }
    });
  }

  // A button beside each password field shows what was typed, for people
  // who make typos on small keyboards.
  document.querySelectorAll("input[type=password]").forEach(function (input) {
    if (!input.id) {
      return;
    }
    var wrap = document.createElement("span");
    wrap.className = "pw-wrap";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    var button = document.createElement("button");
    button.type = "button";
    button.className = "reveal";
    button.textContent = "Show";
    button.setAttribute("aria-controls", input.id);
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", "Show password");
    button.addEventListener("click", function () {
      var shown = input.type === "text";
      input.type = shown ? "password" : "text";
      button.textContent = shown ? "Show" : "Hide";
      button.setAttribute("aria-pressed", shown ? "false" : "true");
      button.setAttribute("aria-label", shown ? "Show password" : "Hide password");
    });
    wrap.appendChild(button);
  });

  // Before a form is sent, turn revealed passwords back into password
  // fields, so the browser's history and password manager treat them so.
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll(".pw-wrap input").forEach(function (input) {
        input.type = "password";
      });
    });
  });
})();
