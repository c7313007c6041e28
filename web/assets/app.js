// Progressive enhancement for valet's pages. Every form and link works
// without this file; it only makes times local, moves the focus to the
// field with an error, makes passwords revealable, says when Caps Lock is
// on in a password field, and copies recovery codes.
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

  // The field the server marks autofocus (the one with an error) gets the
  // focus even where the browser skipped autofocus, as it may for a page
  // that loads in a tab other than the one in front.
  var marked = document.querySelector("[autofocus]");
  if (marked && (document.activeElement === null || document.activeElement === document.body)) {
    marked.focus();
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

    // Said while Caps Lock is on, as a wrong password often is.
    var caps = document.createElement("p");
    caps.className = "caps";
    caps.id = input.id + "-caps";
    caps.setAttribute("role", "status");
    caps.hidden = true;
    caps.textContent = "Caps Lock is on.";
    wrap.parentNode.insertBefore(caps, wrap.nextSibling);
    var capsCheck = function (e) {
      if (e.getModifierState) {
        caps.hidden = !e.getModifierState("CapsLock");
      }
    };
    input.addEventListener("keydown", capsCheck);
    input.addEventListener("keyup", capsCheck);
    input.addEventListener("blur", function () {
      caps.hidden = true;
    });
  });

  // A button that copies a list (the recovery codes) to the clipboard,
  // one item a line; shown only where the clipboard can be written.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var list = document.getElementById(button.getAttribute("data-copy"));
    if (!list || !navigator.clipboard || !navigator.clipboard.writeText) {
      return;
    }
    var status = document.getElementById(button.id + "-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      var lines = Array.prototype.map.call(list.querySelectorAll("li"), function (li) {
        return li.textContent.trim();
      });
      navigator.clipboard.writeText(lines.join("\n") + "\n").then(
        function () {
          if (status) {
            status.textContent = "Copied.";
          }
        },
        function () {
          if (status) {
            status.textContent = "This browser did not allow copying: select the codes instead.";
          }
        }
      );
    });
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
