// Palaver's service worker: the app shell offline, one release at a time.
//
// PRECACHE and VERSION are written by precache.sh after every trunk build
// (a post_build hook): the exact files of this build, hashed names included,
// so a new release never mixes its files with an old one's. The new worker
// waits until the page asks it to take over (the "new version" banner).
const VERSION = "__PALAVER_VERSION__";
const PRECACHE = __PALAVER_PRECACHE__;
const SHELL = `palaver-shell-${VERSION}`;
const RUNTIME = "palaver-runtime";

// Entry points that must be fresh when online: network first, cache when offline.
const NETWORK_FIRST = new Set(["", "index.html", "config.json"]);
// Hashed assets never change: cache first.
const HASHED = /-[0-9a-f]{16}(_bg)?\.(js|wasm|css)$/;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(PRECACHE)));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys
            .filter((key) => key.startsWith("palaver-shell-") && key !== SHELL)
            .map((key) => caches.delete(key)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

function scopePath(url) {
  const scope = new URL(self.registration.scope);
  return url.pathname.startsWith(scope.pathname) ? url.pathname.slice(scope.pathname.length) : null;
}

async function networkFirst(request, fallbackPath) {
  try {
    const response = await fetch(request);
    if (response.ok) {
      const runtime = await caches.open(RUNTIME);
      await runtime.put(request, response.clone());
    }
    return response;
  } catch (err) {
    const cached =
      (await caches.match(request, { ignoreSearch: true })) ||
      (fallbackPath !== null && (await caches.match(new URL(fallbackPath, self.registration.scope))));
    if (cached) return cached;
    throw err;
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const runtime = await caches.open(RUNTIME);
    await runtime.put(request, response.clone());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = scopePath(url);
  if (path === null) return;
  if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, "index.html"));
  } else if (NETWORK_FIRST.has(path)) {
    event.respondWith(networkFirst(request, null));
  } else if (HASHED.test(path) || PRECACHE.includes(path)) {
    event.respondWith(cacheFirst(request));
  }
  // Anything else (the relay's /metrics, /healthz, ...) goes to the network untouched.
});
