// Registers the service worker and, when a new release is waiting, offers
// to switch to it: a banner with a Reload button. Nothing reloads by itself.
// Also tells the loading shell in index.html whether this is a first visit.
(function () {
  // The loading shell shows the nickname form only to a first visit.
  try {
    if (localStorage.getItem("palaver.nick")) document.documentElement.classList.add("returning");
  } catch (err) {
    // Storage blocked: the shell shows the form's layout, which is harmless.
  }
  if (!("serviceWorker" in navigator)) return;
  let switching = false;

  function offer(worker) {
    if (document.querySelector("[data-testid=update-banner]")) return;
    const banner = document.createElement("div");
    banner.className = "update-banner";
    banner.setAttribute("role", "status");
    banner.dataset.testid = "update-banner";
    const text = document.createElement("span");
    text.textContent = "A new version of Palaver is ready.";
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Reload";
    button.dataset.testid = "update-reload";
    button.addEventListener("click", () => {
      switching = true;
      worker.postMessage("skip-waiting");
    });
    banner.append(text, button);
    document.body.append(banner);
  }

  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (switching) window.location.reload();
  });

  window.addEventListener("load", async () => {
    try {
      const registration = await navigator.serviceWorker.register("sw.js");
      if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
      registration.addEventListener("updatefound", () => {
        const worker = registration.installing;
        if (!worker) return;
        worker.addEventListener("statechange", () => {
          if (worker.state === "installed" && navigator.serviceWorker.controller) offer(worker);
        });
      });
      // Look for a new release when the app comes back to the foreground.
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") registration.update().catch(() => {});
      });
    } catch (err) {
      console.warn("Palaver: service worker not registered:", err);
    }
  });
})();
