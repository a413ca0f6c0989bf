// Palaver's service worker: the app shell offline, one release at a time,
// and the notifications the relay pushes while the app is closed or hidden.
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

// ---- Web Push (docs/PROTOCOL.md, push_subscribe) ----
//
// A push's payload is the relay's JSON: {room, seq, from, text?, mention}.
// `text` is absent when the user hides message text in notifications (or
// it did not fit): then the notification names only the room and author.

const ICON = "icons/icon-192.png";
// The app's message to a window: show this room and message (`palaver-open`),
// or the browser replaced the push subscription (`palaver-resubscribed`).
const OPEN = "palaver-open";
const RESUBSCRIBED = "palaver-resubscribed";

// The room a window shows, from its `#/room/NAME[/SEQ]` URL.
function roomOf(url) {
  const hash = new URL(url).hash;
  if (!hash.startsWith("#/room/")) return null;
  try {
    return decodeURIComponent(hash.slice("#/room/".length).split("/")[0]);
  } catch (err) {
    return null;
  }
}

async function windows() {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true });
}

// A focused, visible window already shows the room: the app shows the
// message itself, so the push shows nothing (the relay checks this too, but
// the app may have come to the front since it sent the push).
async function roomOnScreen(room) {
  return (await windows()).some(
    (client) => client.focused && client.visibilityState === "visible" && roomOf(client.url) === room,
  );
}

function pushData(event) {
  if (!event.data) return null;
  try {
    const data = event.data.json();
    return data && typeof data.room === "string" && typeof data.from === "string" ? data : null;
  } catch (err) {
    return null;
  }
}

async function showPush(push) {
  if (push === null) {
    // Not the relay's: still say something, since every push must show a
    // notification (userVisibleOnly).
    return self.registration.showNotification("Palaver", { body: "New activity", icon: ICON, tag: "palaver" });
  }
  if (await roomOnScreen(push.room)) return;
  const tag = `room:${push.room}`;
  // One notification per room: a new message replaces the room's last one
  // and counts what it replaced, so a burst is one line, not ten.
  const earlier = await self.registration.getNotifications({ tag });
  const count = earlier.reduce((n, old) => n + ((old.data && old.data.count) || 1), 0) + 1;
  const what = typeof push.text === "string" ? push.text : push.mention ? "Mentioned you" : "New message";
  const body = count > 1 ? `${what}\n(${count} new messages)` : what;
  return self.registration.showNotification(`${push.from} in #${push.room}`, {
    body,
    tag,
    renotify: true,
    icon: ICON,
    badge: ICON,
    timestamp: Date.now(),
    data: { room: push.room, seq: push.seq, count },
  });
}

self.addEventListener("push", (event) => {
  event.waitUntil(showPush(pushData(event)));
});

// The URL of a room's message: the same links the app copies.
function messageUrl(data) {
  const scope = self.registration.scope;
  if (!data || typeof data.room !== "string") return scope;
  const seq = Number.isSafeInteger(data.seq) ? `/${data.seq}` : "";
  return `${scope}#/room/${encodeURIComponent(data.room)}${seq}`;
}

// A click opens the room at the message: in an open Palaver window (which
// moves there without reloading, so its connection stays) brought to the
// front, or in a new one.
async function openFromNotification(data) {
  const url = messageUrl(data);
  const open = await windows();
  const client =
    open.find((c) => c.focused) || open.find((c) => c.visibilityState === "visible") || open[0];
  if (!client) return self.clients.openWindow(url);
  client.postMessage({ type: OPEN, url });
  try {
    await client.focus();
  } catch (err) {
    // Focusing needs the click's permission, which lasts a few seconds.
  }
  return undefined;
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openFromNotification(event.notification.data));
});

// The browser ended the subscription (expired, or its keys changed):
// subscribe again with the same relay key, and tell the open windows, which
// send `push_subscribe` (and `push_unsubscribe` for the old endpoint). With
// no window open the app sends the current subscription when it next
// connects; the relay drops the old endpoint when its push service says 410.
async function resubscribe(event) {
  const old = event.oldSubscription;
  let subscription = event.newSubscription;
  if (!subscription) {
    const key = old && old.options && old.options.applicationServerKey;
    if (!key) return;
    subscription = await self.registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: key,
    });
  }
  for (const client of await windows()) {
    client.postMessage({
      type: RESUBSCRIBED,
      old: old ? old.endpoint : null,
      subscription: subscription.toJSON(),
    });
  }
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(resubscribe(event));
});
