// Passkeys on valet's pages. WebAuthn runs only in the browser, so these are
// the forms that need this file; every other form works without it.
//
// A form with data-webauthn asks the server for the options of a ceremony
// (POST /v1/webauthn/.../begin, JSON), hands them to the browser
// (navigator.credentials.create or .get), and posts the browser's answer,
// in the JSON form of PublicKeyCredential.toJSON(), in its hidden field
// "credential". Its kinds:
//   signin    a passkey alone, from the button or the email field's autofill
//   second    a passkey as the second factor of a sign-in (mfa_token)
//   reauth    a passkey as proof of who the user is before a change
//   register  a new passkey, named by the form's field "name"
(function () {
  "use strict";

  var forms = document.querySelectorAll("form[data-webauthn]");
  if (!forms.length) {
    return;
  }
  var supported = !!(window.PublicKeyCredential && navigator.credentials && window.fetch);

  // The options carry binary values as base64url strings; the browser
  // wants ArrayBuffers, and gives ArrayBuffers back.
  function fromB64u(s) {
    s = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64u(buf) {
    if (!buf) {
      return null;
    }
    var bytes = new Uint8Array(buf instanceof ArrayBuffer ? buf : buf.buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type || "public-key", id: fromB64u(c.id) };
      if (c.transports) {
        d.transports = c.transports;
      }
      return d;
    });
  }

  // creationOptions and requestOptions turn the JSON of the server's
  // options ({"publicKey": {...}}) into what the browser takes, with the
  // browser's own parser where it has one.
  function creationOptions(json) {
    var pk = json.publicKey;
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      try {
        return PublicKeyCredential.parseCreationOptionsFromJSON(pk);
      } catch (e) {
        // An older parser that does not know a member: do it by hand.
      }
    }
    var o = JSON.parse(JSON.stringify(pk));
    o.challenge = fromB64u(pk.challenge);
    o.user.id = fromB64u(pk.user.id);
    if (o.excludeCredentials) {
      o.excludeCredentials = descriptors(pk.excludeCredentials);
    } else {
      delete o.excludeCredentials;
    }
    return o;
  }

  function requestOptions(json) {
    var pk = json.publicKey;
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      try {
        return PublicKeyCredential.parseRequestOptionsFromJSON(pk);
      } catch (e) {
        // As above.
      }
    }
    var o = JSON.parse(JSON.stringify(pk));
    o.challenge = fromB64u(pk.challenge);
    if (o.allowCredentials) {
      o.allowCredentials = descriptors(pk.allowCredentials);
    } else {
      delete o.allowCredentials;
    }
    return o;
  }

  // credentialJSON is PublicKeyCredential.toJSON(), written out for the
  // browsers that lack it.
  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") {
      try {
        return cred.toJSON();
      } catch (e) {
        // Fall through to the manual form.
      }
    }
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: { clientDataJSON: toB64u(r.clientDataJSON) },
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toB64u(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
      if (r.getAuthenticatorData) {
        out.response.authenticatorData = toB64u(r.getAuthenticatorData());
      }
      if (r.getPublicKeyAlgorithm) {
        out.response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
      }
    } else {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      out.response.userHandle = r.userHandle ? toB64u(r.userHandle) : null;
    }
    return out;
  }

  // failure is an error of the server's part, with the sentence a person
  // sees and the API's error code.
  function failure(message, code) {
    var e = new Error(message);
    e.fromServer = true;
    e.code = code || "";
    return e;
  }

  function begin(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    }).then(
      function (res) {
        return res.json().then(
          function (data) {
            if (!res.ok) {
              throw failure(data.message || "The server refused: try again.", data.error);
            }
            return data;
          },
          function () {
            throw failure("The server's answer could not be read. Try again.");
          }
        );
      },
      function () {
        throw failure("The server cannot be reached. Check your connection and try again.");
      }
    );
  }

  // words says what went wrong with the browser's part of a ceremony.
  function words(e, kind) {
    if (e && e.fromServer) {
      if (e.code === "unauthenticated" || e.code === "token_expired" || e.code === "invalid_token") {
        return "Your sign-in has ended or needs renewing: reload the page and try again.";
      }
      return e.message;
    }
    switch (e && e.name) {
      case "NotAllowedError":
        return kind === "signin"
          ? "The passkey request was cancelled or timed out. Try again, or sign in with your password."
          : "The passkey request was cancelled or timed out. Try again.";
      case "InvalidStateError":
        return "This device already holds a passkey for your account.";
      case "SecurityError":
        return "This browser refused to use a passkey at this address.";
      case "NotSupportedError":
        return "This browser or device cannot use passkeys.";
    }
    return "The passkey did not work: " + ((e && e.message) || "unknown error") + ".";
  }

  function errorBox(form) {
    var id = form.getAttribute("data-error");
    return id ? document.getElementById(id) : null;
  }

  function say(form, text) {
    var box = errorBox(form);
    if (!box) {
      return;
    }
    box.textContent = text;
    box.hidden = !text;
  }

  function field(form, name) {
    return form.querySelector("[name='" + name + "']");
  }

  // post fills the form's credential field with the browser's answer and
  // sends the form; submit() does not fire the submit event again.
  function post(form, cred) {
    field(form, "credential").value = JSON.stringify(credentialJSON(cred));
    if (form.getAttribute("data-webauthn") === "signin") {
      // The mode chosen under "Advanced" applies to a passkey too.
      var mode = document.querySelector("input[name=mode]:checked");
      field(form, "mode").value = mode ? mode.value : "";
    }
    form.submit();
  }

  function options(form) {
    var kind = form.getAttribute("data-webauthn");
    switch (kind) {
      case "register":
        var name = field(form, "name");
        return begin("/v1/webauthn/register/begin", { name: name ? name.value : "" });
      case "second":
        return begin("/v1/webauthn/login/begin", { mfa_token: field(form, "mfa_token").value });
      case "reauth":
        return begin("/v1/webauthn/login/begin", { purpose: "reauth" });
    }
    return begin("/v1/webauthn/login/begin", {});
  }

  // A sign-in page keeps one request waiting in the email field's
  // autofill (conditional mediation), ended before the button asks.
  var autofill = null;

  function startAutofill(form) {
    var ctrl = new AbortController();
    var timer = null;
    var settled = options(form)
      .then(function (json) {
        form.setAttribute("data-autofill", "waiting");
        // The server's challenge expires: ask for a new one before then.
        var ms = (json.publicKey && json.publicKey.timeout) || 300000;
        timer = setTimeout(function () {
          stopAutofill().then(function () {
            startAutofill(form);
          });
        }, Math.max(ms - 30000, 30000));
        return navigator.credentials.get({ publicKey: requestOptions(json), mediation: "conditional", signal: ctrl.signal });
      })
      .then(
        function (cred) {
          clearTimeout(timer);
          if (cred) {
            form.setAttribute("data-autofill", "chosen");
            post(form, cred);
          }
        },
        function (e) {
          clearTimeout(timer);
          if (!ctrl.signal.aborted) {
            // The autofill is an offer, not a question: it says nothing,
            // and the button is there to ask.
            form.setAttribute("data-autofill", "failed");
            form.setAttribute("data-autofill-error", (e && (e.fromServer ? e.code : e.name)) || "");
          }
        }
      );
    autofill = { ctrl: ctrl, settled: settled };
  }

  function stopAutofill() {
    if (!autofill) {
      return Promise.resolve();
    }
    var a = autofill;
    autofill = null;
    a.ctrl.abort();
    return a.settled;
  }

  function run(form) {
    var kind = form.getAttribute("data-webauthn");
    var button = form.querySelector("button[type=submit]");
    if (!supported) {
      say(form, "This browser cannot use passkeys.");
      return;
    }
    say(form, "");
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
    var done = function () {
      if (button) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    };
    stopAutofill()
      .then(function () {
        return options(form);
      })
      .then(function (json) {
        if (kind === "register") {
          return navigator.credentials.create({ publicKey: creationOptions(json) });
        }
        return navigator.credentials.get({ publicKey: requestOptions(json) });
      })
      .then(
        function (cred) {
          post(form, cred);
        },
        function (e) {
          done();
          if (e && e.fromServer && e.code === "reauth_required") {
            // The account page asks who it is, then the person adds the
            // passkey again.
            var rd = field(form, "return_to");
            location.assign("/account?reauth=1" + (rd && rd.value ? "&rd=" + encodeURIComponent(rd.value) : "") + "#reauth-h");
            return;
          }
          say(form, words(e, kind));
          if (kind === "signin" && autofillAvailable) {
            startAutofill(form);
          }
        }
      );
  }

  var autofillAvailable = false;

  Array.prototype.forEach.call(forms, function (form) {
    var wrap = form.closest("[data-webauthn-only]");
    if (wrap && supported) {
      wrap.hidden = false;
    }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      run(form);
    });
  });

  var signin = document.querySelector("form[data-webauthn=signin]");
  var email = document.querySelector("input[autocomplete~=webauthn]");
  if (signin && signin.getAttribute("data-autofill") === "off") {
    // A passkey was just refused: the autofill would offer it again at
    // once. The button asks when the person wants.
    signin = null;
  }
  if (supported && signin && email && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(
      function (ok) {
        autofillAvailable = !!ok;
        if (ok) {
          startAutofill(signin);
        } else {
          signin.setAttribute("data-autofill", "unavailable");
        }
      },
      function () {
        signin.setAttribute("data-autofill", "unavailable");
      }
    );
  } else if (signin) {
    signin.setAttribute("data-autofill", "unavailable");
  }
})();
