/* The app page's small behaviours around Gradio (no gallery code here; that is gallery.js).
 *
 * - Ctrl/Cmd+Enter in a prompt box presses Generate; Enter keeps adding a newline.
 * - An ended session (logged out elsewhere, expired) is said once, plainly, with a
 *   log-in form right on the page, so that the prompt typed stays where it is;
 *   Gradio's raw "Not authenticated" pop-ups and red "Error" labels are hidden.
 * - On a small screen the page scrolls to new images; a status or error that
 *   appears out of sight is scrolled into view.
 * - The Account tab's forms post in the background: an error shows beside the
 *   form with everything typed kept; a success reloads onto the Account tab.
 * Nothing here stores anything (no Web Storage, no cookies).
 */
(function () {
  "use strict";

  const SMALL = 768;

  function generateButton() {
    return document.getElementById("generate");
  }

  // -- Ctrl/Cmd+Enter ---------------------------------------------------------------

  document.addEventListener(
    "keydown",
    (event) => {
      if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
      const box = event.target;
      if (!(box instanceof HTMLTextAreaElement) && !(box instanceof HTMLInputElement)) return;
      if (!box.closest("#prompt, #negative")) return;
      event.preventDefault();
      const button = generateButton();
      if (button && !button.disabled) button.click();
    },
    true,
  );

  // -- the session ended ------------------------------------------------------------

  let ended = false;

  function currentUser() {
    const header = document.querySelector("#ac-header [data-user]");
    return header ? header.dataset.user : "";
  }

  function sessionEnded() {
    if (ended) return;
    ended = true;
    document.body.classList.add("ac-session-ended");
    const box = document.createElement("div");
    box.className = "ac-session-box";
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-labelledby", "ac-session-title");
    box.dataset.testid = "session-ended";
    // A constant string with no user text in it; the username goes in as .value below.
    // eslint-disable-next-line no-restricted-properties
    box.innerHTML =
      '<h2 id="ac-session-title">Your session has ended</h2>' +
      "<p>You were logged out (from another tab, or the session expired). " +
      "Log in again here: what you typed stays on this page.</p>" +
      '<form class="ac-relogin" data-testid="relogin-form">' +
      '<label>Username or email <input name="username" autocomplete="username" required></label>' +
      '<label>Password <input name="password" type="password" autocomplete="current-password" required></label>' +
      '<button type="submit">Log in</button> ' +
      '<a href="/login" target="_blank" rel="noopener" data-testid="login-link">or open the log-in page</a>' +
      '<p class="ac-relogin-error" role="alert" hidden></p></form>';
    box.querySelector("input[name=username]").value = currentUser();
    box.querySelector("form").addEventListener("submit", relogin);
    const anchor = document.getElementById("ac-notices") || document.body.firstChild;
    anchor.parentNode.insertBefore(box, anchor);
    box.scrollIntoView({ block: "nearest" });
    box.querySelector("input[name=password]").focus();
  }

  async function relogin(event) {
    event.preventDefault();
    const form = event.target;
    const error = form.querySelector(".ac-relogin-error");
    error.hidden = true;
    try {
      const page = await fetch("/login", { credentials: "same-origin" });
      const doc = new DOMParser().parseFromString(await page.text(), "text/html");
      const token = doc.querySelector("input[name=csrf_token]");
      if (!token) throw new Error("no form");
      const body = new URLSearchParams(new FormData(form));
      body.set("csrf_token", token.value);
      const answer = await fetch("/login", {
        method: "POST",
        body,
        credentials: "same-origin",
      });
      if (answer.ok && new URL(answer.url).pathname === "/") {
        const name = body.get("username");
        const box = form.closest(".ac-session-box");
        const other = currentUser() && name.toLowerCase() !== currentUser().toLowerCase()
          && !name.includes("@");
        if (other) {
          // Another account: this page belongs to the old one; start afresh.
          location.assign("/");
          return;
        }
        ended = false;
        document.body.classList.remove("ac-session-ended");
        box.outerHTML =
          '<div class="ac-session-box ac-session-ok" role="status" data-testid="session-back">' +
          "You are logged in again. Press Generate to go on.</div>";
        return;
      }
      const answerDoc = new DOMParser().parseFromString(await answer.text(), "text/html");
      const said = answerDoc.querySelector("[data-testid=form-error]");
      error.textContent = said ? said.textContent : "That did not work. Please try again.";
    } catch {
      error.textContent = "The server did not answer. Please try again.";
    }
    error.hidden = false;
  }

  function isAuthError(text) {
    return /not authenticated|session has ended|please log in/i.test(text || "");
  }

  // Gradio's calls answer 401 once the session is gone: say so our way. (Head
  // scripts run before Gradio's client starts, so every call passes here.)
  const originalFetch = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const answer = await originalFetch(...args);
    if (answer.status === 401) {
      const url = String(args[0] instanceof Request ? args[0].url : args[0]);
      if (new URL(url, location.href).pathname.startsWith("/gradio_api/")) sessionEnded();
    }
    return answer;
  };

  // Gradio's toasts: one that says the session is gone becomes our message.
  function watchToasts(node) {
    if (!(node instanceof HTMLElement)) return;
    const toasts = node.matches(".toast-body") ? [node] : node.querySelectorAll(".toast-body");
    for (const toast of toasts) {
      if (isAuthError(toast.textContent)) {
        toast.style.display = "none";
        sessionEnded();
      }
    }
  }

  // -- where the eye is -------------------------------------------------------------

  function outOfSight(element) {
    const box = element.getBoundingClientRect();
    return box.top < 0 || box.bottom > window.innerHeight;
  }

  function watchResults(node) {
    if (!(node instanceof HTMLElement)) return;
    const status = node.matches("[data-testid=status]")
      ? node
      : node.querySelector("[data-testid=status]");
    // On a phone a success is shown by scrolling to the images (below); an
    // error, or any message on a wide screen, is brought into view itself.
    const small = window.innerWidth < SMALL;
    const success = status && status.classList.contains("ac-status-ok");
    if (status && status.textContent.trim() && outOfSight(status) && !(small && success)) {
      status.scrollIntoView({ block: "center", behavior: "instant" });
    }
    if (
      window.innerWidth < SMALL &&
      (node.matches("[data-testid=latest-image]") || node.querySelector("[data-testid=latest-image]"))
    ) {
      const latest = document.getElementById("latest");
      // After layout, once the new images take their place.
      requestAnimationFrame(() => {
        if (latest && outOfSight(latest)) latest.scrollIntoView({ block: "start", behavior: "instant" });
      });
    }
  }

  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        watchToasts(node);
        watchResults(node);
      }
    }
  }).observe(document.documentElement, { childList: true, subtree: true });

  // -- the Account tab's forms ------------------------------------------------------

  function showResult(form, text) {
    let line = form.nextElementSibling;
    if (!line || !line.classList.contains("ac-result-error")) {
      line = document.createElement("p");
      line.className = "ac-result ac-result-error";
      line.setAttribute("role", "alert");
      line.dataset.testid = "account-error";
      form.after(line);
    }
    line.textContent = text;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const action = form.getAttribute("action") || "";
    if (!form.closest("#account-info") || !action.startsWith("/account/")) return;
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      const answer = await fetch(action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
      });
      const where = new URL(answer.url);
      if (where.pathname === "/login") {
        sessionEnded();
      } else if (answer.ok && answer.redirected) {
        location.assign(answer.url); // "/?done=..." opens the Account tab; "/goodbye"
        return;
      } else {
        const doc = new DOMParser().parseFromString(await answer.text(), "text/html");
        const said = doc.querySelector("[data-testid=form-message]");
        showResult(form, said ? said.textContent : "Nothing changed. Please try again.");
      }
    } catch {
      showResult(form, "The server did not answer; nothing changed. Please try again.");
    }
    if (button) button.disabled = false;
  });
})();
