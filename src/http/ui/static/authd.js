// authd's web UI works without this script; it only adds conveniences:
// - a copy button next to a generated password;
// - a live countdown to the access token's expiry;
// - passkeys, which only a script can ask the browser for (navigator.credentials);
// - posting a form_post answer to the application without a click;
// - moving on from the sign-out page as soon as the applications' logout pages have loaded.
// Loaded as a file (the Content-Security-Policy allows no inline script).
"use strict";

function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const id = button.dataset.copy;
    const field = document.getElementById(id);
    const status = document.querySelector(`[data-copy-status="${id}"]`);
    if (!field) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      field.select();
      let copied = false;
      try {
        await navigator.clipboard.writeText(field.value);
        copied = true;
      } catch {
        // No clipboard API (an insecure origin, or permission refused): the field is selected
        // for the user to copy by hand.
      }
      if (status) {
        status.textContent = copied
          ? "Copied to the clipboard."
          : "Selected: press Ctrl+C (or ⌘C) to copy.";
      }
    });
  }
}

function describe(seconds) {
  if (seconds <= 0) return "(expired: reload the page for a new one)";
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return minutes > 0 ? `(in ${minutes} min ${rest} s)` : `(in ${rest} s)`;
}

function setUpCountdowns() {
  const countdowns = document.querySelectorAll("[data-expires-at]");
  if (countdowns.length === 0) return;
  const tick = () => {
    const now = Math.floor(Date.now() / 1000);
    for (const element of countdowns) {
      element.textContent = describe(Number(element.dataset.expiresAt) - now);
    }
  };
  tick();
  setInterval(tick, 1000);
}

// WebAuthn carries binary fields; authd's options and answers carry them as base64url.
function fromBase64Url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

function toBase64Url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// Browsers from 2024 on parse and serialise these themselves; the rest get the same by hand.
function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64Url(json.challenge),
    user: { ...json.user, id: fromBase64Url(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromBase64Url(c.id) })),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64Url(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromBase64Url(c.id) })),
  };
}

function credentialJson(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const response = {};
  for (const field of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
    if (credential.response[field]) response[field] = toBase64Url(credential.response[field]);
  }
  return {
    id: credential.id,
    rawId: toBase64Url(credential.rawId),
    type: credential.type,
    response,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

// A passkey page: its form carries the ceremony's options (data-options) and sends the
// authenticator's answer back as an ordinary form post (the CSP lets no script fetch).
function setUpPasskeyCeremony() {
  const form = document.getElementById("passkey-form");
  if (!form) return;
  const button = document.getElementById("passkey-start");
  const error = document.getElementById("passkey-error");
  const run = async () => {
    button.disabled = true;
    error.hidden = true;
    try {
      if (!window.PublicKeyCredential) throw new Error("This browser cannot use passkeys.");
      const options = JSON.parse(form.dataset.options);
      const credential =
        form.dataset.ceremony === "create"
          ? await navigator.credentials.create({ publicKey: creationOptions(options.publicKey) })
          : await navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
      document.getElementById("passkey-response").value = JSON.stringify(credentialJson(credential));
      form.submit();
    } catch (err) {
      error.textContent =
        err.name === "NotAllowedError"
          ? form.dataset.ceremony === "create"
            ? "No passkey was created: the request was cancelled or timed out. Try again."
            : "No passkey was used. If this device has no passkey for this site, sign in with " +
              "your password instead, or use a passkey on another device (your phone, say)."
          : err.name === "InvalidStateError"
            ? "This authenticator holds a passkey for your account already."
            : `The passkey request failed: ${err.message || err}`;
      error.hidden = false;
      button.disabled = false;
    }
  };
  button.addEventListener("click", run);
  // Straight away where the browser allows it without a click; the button is there if not.
  run();
}

// response_mode=form_post: the answer for the application, posted to it straight away.
function submitAnswerForms() {
  for (const form of document.querySelectorAll("form[data-autosubmit]")) form.submit();
}

// Front-channel logout: each application's logout page loads in a hidden frame; once all have
// (or the wait is over), on to where the browser was going. A Refresh header does it without us.
function continueAfterFrontChannel() {
  const page = document.getElementById("signed-out");
  if (!page) return;
  const frames = Array.from(document.querySelectorAll("iframe.front-channel"));
  let pending = frames.length;
  const go = () => window.location.replace(page.dataset.continue);
  for (const frame of frames) {
    frame.addEventListener("load", () => {
      pending -= 1;
      if (pending === 0) go();
    });
  }
  setTimeout(go, Number(page.dataset.wait) * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  submitAnswerForms();
  continueAfterFrontChannel();
  setUpCopyButtons();
  setUpCountdowns();
  setUpPasskeyCeremony();
});
