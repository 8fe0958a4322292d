// authd's web UI works without this script; it only adds conveniences:
// - a copy button next to a generated password;
// - a live countdown to the access token's expiry.
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

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpCountdowns();
});
