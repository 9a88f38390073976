// The console's only script: no framework, no build step.
// 1. An element with an id and data-refresh="N" is re-read from the same URL every N seconds (the
//    overview; an order still in progress), until the fresh copy no longer asks for it.
// 2. A form with data-confirm asks before it is submitted.
"use strict";

function keepFresh(id, seconds) {
  setTimeout(async () => {
    let next = seconds;
    try {
      const response = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
      if (response.ok && !response.redirected) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.getElementById(id);
        const current = document.getElementById(id);
        if (fresh && current) {
          current.replaceWith(document.importNode(fresh, true));
          bindConfirms(document.getElementById(id));
          if (!fresh.dataset.refresh) return;
          next = Number(fresh.dataset.refresh) || seconds;
        }
      }
    } catch (e) {
      // the service may be restarting: try again later
    }
    keepFresh(id, next);
  }, seconds * 1000);
}

function bindConfirms(root) {
  root.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  bindConfirms(document);
  document.querySelectorAll("[data-refresh][id]").forEach((el) => keepFresh(el.id, Number(el.dataset.refresh) || 5));
});
