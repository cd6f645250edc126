/* commhub in-app inbox widget: a bell with the unread badge and a dropdown list, live through the inbox stream.
 *
 * Include it from commhub itself (no CDN, no build step) and give it the person's end-user token:
 *
 *   <div id="commhub-inbox"></div>
 *   <script src="https://hub.example.com/static/inbox/widget.js" defer
 *           data-hub="https://hub.example.com" data-token="END-USER TOKEN" data-target="#commhub-inbox"></script>
 *
 * or mount it yourself, with a function that returns a fresh token when the old one expires:
 *
 *   CommhubInbox.mount(element, {hub: "https://hub.example.com", token: () => fetch("/my/token").then(r => r.text())})
 *
 * Push to the browser: give the path of your copy of commhub's service worker (/static/push/sw.js, served from
 * your own origin) and the list shows a "Turn on notifications" button that asks the person, subscribes the
 * browser and registers it with commhub:
 *
 *   <script src="..." data-hub="..." data-token="..." data-service-worker="/commhub-sw.js" defer></script>
 *
 * or call it yourself: CommhubInbox.enablePush({hub: ..., token: ..., serviceWorker: "/commhub-sw.js"}).
 *
 * Text is always set as text (never as HTML); an action link is followed only when it is http(s) or relative.
 */
(function () {
  "use strict";

  var STYLE = [
    ".chi{position:relative;display:inline-block;font:14px/1.4 system-ui,sans-serif}",
    ".chi-bell{position:relative;border:1px solid #ccc;background:#fff;border-radius:20px;padding:6px 10px;cursor:pointer;line-height:0}",
    ".chi-badge{position:absolute;top:-6px;right:-6px;background:#d93025;color:#fff;border-radius:10px;padding:0 6px;font-size:12px;line-height:18px;min-width:10px;text-align:center}",
    ".chi-badge[hidden]{display:none}",
    ".chi-panel{position:absolute;right:0;top:42px;width:340px;max-height:420px;overflow:auto;background:#fff;border:1px solid #ccc;border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.15);z-index:1000}",
    ".chi-panel[hidden]{display:none}",
    ".chi-head{display:flex;justify-content:space-between;align-items:center;padding:8px 12px;border-bottom:1px solid #eee;font-weight:600}",
    ".chi-head button{border:0;background:none;color:#1a73e8;cursor:pointer}",
    ".chi-item{padding:10px 12px;border-bottom:1px solid #f0f0f0;cursor:pointer}",
    ".chi-item.chi-unread{background:#f3f8ff}",
    ".chi-item.chi-unread .chi-title{font-weight:700}",
    ".chi-body{color:#444;margin-top:2px}",
    ".chi-meta{color:#888;font-size:12px;margin-top:4px}",
    ".chi-action{display:inline-block;margin-top:4px;color:#1a73e8}",
    ".chi-empty{padding:16px;color:#888;text-align:center}",
    ".chi-push{padding:8px 12px;border-bottom:1px solid #eee;color:#555;font-size:13px}",
    ".chi-push button{border:1px solid #1a73e8;background:#fff;color:#1a73e8;border-radius:4px;padding:4px 8px;cursor:pointer}"
  ].join("");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function bellIcon() {  /* drawn, not an emoji: not every system has an emoji font */
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "20");
    svg.setAttribute("height", "20");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "#444");
    path.setAttribute("d", "M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z");
    svg.appendChild(path);
    return svg;
  }

  function safeUrl(url) {
    if (!url) return "";
    if (/^https?:\/\//i.test(url) || (url.charAt(0) === "/" && url.charAt(1) !== "/")) return url;
    return "";
  }

  function tokenOf(source) {  /* the token as given, or what a function returns (a fresh one when it expired) */
    return Promise.resolve(typeof source === "function" ? source() : source);
  }

  function meCall(hub, tokenSource, method, path, body) {
    return tokenOf(tokenSource).then(function (token) {
      return fetch(hub + "/api/v1/me/" + path, {
        method: method,
        headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        body: body === undefined ? undefined : JSON.stringify(body)
      });
    }).then(function (response) {
      if (!response.ok) throw new Error("commhub: " + path + " answered " + response.status);
      return response.status === 204 ? null : response.json();
    });
  }

  function keyBytes(base64url) {  /* the VAPID public key as pushManager.subscribe() takes it */
    var text = atob((base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  function pushSupported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  /* Ask the person, subscribe this browser with commhub's key and register it: resolves to commhub's record. */
  function enablePush(options) {
    var hub = (options.hub || "").replace(/\/$/, "");
    if (!pushSupported()) return Promise.reject(new Error("commhub: this browser cannot receive push"));
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") throw new Error("commhub: notifications were not allowed (" + permission + ")");
      return Promise.all([
        navigator.serviceWorker.register(options.serviceWorker || "/commhub-sw.js"),
        meCall(hub, options.token, "GET", "push/config/")
      ]);
    }).then(function (both) {
      var registration = both[0], config = both[1];
      if (!config.web_push) throw new Error("commhub: this server does not send browser push");
      return registration.pushManager.getSubscription().then(function (existing) {
        return existing || registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: keyBytes(config.vapid_public_key)
        });
      });
    }).then(function (subscription) {
      return meCall(hub, options.token, "POST", "push/subscriptions/", subscription.toJSON());
    });
  }

  function Inbox(root, options) {
    this.serviceWorker = options.serviceWorker || "";
    this.root = root;
    this.hub = (options.hub || "").replace(/\/$/, "");
    this.tokenSource = options.token;
    this.items = [];
    this.byId = {};
    this.unread = 0;
    this.lastEventId = null;
    this.loaded = false;
    this.build();
    this.refreshCount();
    this.listen(0);
  }

  Inbox.prototype.token = function () {
    return tokenOf(this.tokenSource);
  };

  Inbox.prototype.call = function (method, path, body) {
    return meCall(this.hub, this.tokenSource, method, "inbox/" + path, body);
  };

  Inbox.prototype.build = function () {
    if (!document.getElementById("commhub-inbox-style")) {
      var style = el("style");
      style.id = "commhub-inbox-style";
      style.textContent = STYLE;
      document.head.appendChild(style);
    }
    var self = this;
    this.wrap = el("div", "chi");
    this.bell = el("button", "chi-bell");
    this.bell.type = "button";
    this.bell.appendChild(bellIcon());
    this.bell.setAttribute("aria-label", "Notifications");
    this.badge = el("span", "chi-badge", "0");
    this.badge.hidden = true;
    this.bell.appendChild(this.badge);
    this.panel = el("div", "chi-panel");
    this.panel.hidden = true;
    var head = el("div", "chi-head", "Notifications");
    var all = el("button", "chi-read-all", "Mark all read");
    all.type = "button";
    all.addEventListener("click", function (event) {
      event.stopPropagation();
      self.call("POST", "read-all/", {}).then(function (answer) { self.setUnread(answer.unread); self.load(); });
    });
    head.appendChild(all);
    this.list = el("div", "chi-list");
    this.panel.appendChild(head);
    if (this.serviceWorker && pushSupported() && Notification.permission !== "denied") {
      this.pushBar = el("div", "chi-push");
      var turnOn = el("button", "chi-push-on", "Turn on notifications");
      turnOn.type = "button";
      turnOn.addEventListener("click", function (event) {
        event.stopPropagation();
        turnOn.disabled = true;
        enablePush({hub: self.hub, token: self.tokenSource, serviceWorker: self.serviceWorker}).then(function () {
          self.pushBar.textContent = "Notifications are on for this browser.";
        }).catch(function (error) {
          self.pushBar.textContent = error.message;
        });
      });
      this.pushBar.appendChild(turnOn);
      this.panel.appendChild(this.pushBar);
    }
    this.panel.appendChild(this.list);
    this.wrap.appendChild(this.bell);
    this.wrap.appendChild(this.panel);
    this.root.appendChild(this.wrap);
    this.bell.addEventListener("click", function () {
      self.panel.hidden = !self.panel.hidden;
      if (!self.panel.hidden) self.load();
    });
  };

  Inbox.prototype.setUnread = function (count) {
    this.unread = count;
    this.badge.textContent = count > 99 ? "99+" : String(count);
    this.badge.hidden = count <= 0;
    this.root.setAttribute("data-unread", String(count));
  };

  Inbox.prototype.refreshCount = function () {
    var self = this;
    return this.call("GET", "unread-count/").then(function (answer) { self.setUnread(answer.unread); });
  };

  Inbox.prototype.load = function () {
    var self = this;
    return this.call("GET", "?page_size=20").then(function (page) {
      self.items = page.results;
      self.byId = {};
      page.results.forEach(function (item) { self.byId[item.id] = item; });
      self.loaded = true;
      self.render();
      var unseen = page.results.filter(function (item) { return !item.seen_at; }).map(function (item) { return item.id; });
      if (unseen.length) self.call("POST", "seen/", {ids: unseen});
    });
  };

  Inbox.prototype.render = function () {
    var self = this;
    this.list.textContent = "";
    if (!this.items.length) {
      this.list.appendChild(el("div", "chi-empty", "Nothing here yet."));
      return;
    }
    this.items.forEach(function (item) {
      var row = el("div", "chi-item" + (item.read_at ? "" : " chi-unread"));
      row.setAttribute("data-id", String(item.id));
      row.appendChild(el("div", "chi-title", item.title || item.body));
      if (item.title && item.body) row.appendChild(el("div", "chi-body", item.body));
      var link = safeUrl(item.action_url);
      if (link) {
        var action = el("a", "chi-action", item.action_label || "Open");
        action.href = link;
        action.addEventListener("click", function (event) { event.stopPropagation(); self.read(item); });
        row.appendChild(action);
      }
      row.appendChild(el("div", "chi-meta", new Date(item.created_at).toLocaleString()));
      row.addEventListener("click", function () { self.read(item); });
      self.list.appendChild(row);
    });
  };

  Inbox.prototype.read = function (item) {
    var self = this;
    if (item.read_at) return Promise.resolve();
    item.read_at = new Date().toISOString();
    this.render();
    return this.call("POST", item.id + "/read/").then(function (answer) { self.setUnread(answer.unread); });
  };

  Inbox.prototype.apply = function (kind, data) {
    if (typeof data.unread === "number") this.setUnread(data.unread);
    var item = data.item;
    if (!item || !this.loaded) return;
    if (kind === "new") {
      if (!this.byId[item.id]) this.items.unshift(item);
    } else if (kind === "archived") {
      this.items = this.items.filter(function (other) { return other.id !== item.id; });
    } else if (kind === "unarchived" && !this.byId[item.id]) {
      this.items.unshift(item);
    } else {
      this.items = this.items.map(function (other) { return other.id === item.id ? item : other; });
    }
    this.byId[item.id] = item;
    this.render();
  };

  /* The stream, read with fetch (EventSource cannot send the Authorization header); reconnects with the last
     event id it saw, waiting longer after each failure. */
  Inbox.prototype.listen = function (failures) {
    var self = this;
    this.token().then(function (token) {
      var headers = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"};
      if (self.lastEventId !== null) headers["Last-Event-ID"] = self.lastEventId;
      return fetch(self.hub + "/api/v1/me/inbox/stream/", {headers: headers, cache: "no-store"});
    }).then(function (response) {
      if (!response.ok || !response.body) throw new Error("commhub inbox stream: " + response.status);
      failures = 0;
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer += decoder.decode(chunk.value, {stream: true});
          var end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            self.dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      failures += 1;
    }).then(function () {
      setTimeout(function () { self.listen(failures); }, Math.min(30000, 1000 * Math.pow(2, failures)));
    });
  };

  Inbox.prototype.dispatch = function (block) {
    var kind = null, data = "", id = null;
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event: ") === 0) kind = line.slice(7);
      else if (line.indexOf("data: ") === 0) data += line.slice(6);
      else if (line.indexOf("id: ") === 0) id = line.slice(4);
    });
    if (id !== null) this.lastEventId = id;
    if (kind && data) this.apply(kind, JSON.parse(data));
  };

  var api = {
    enablePush: enablePush,
    mount: function (target, options) {
      var root = typeof target === "string" ? document.querySelector(target) : target;
      if (!root) throw new Error("commhub inbox: no element " + target);
      return new Inbox(root, options || {});
    }
  };
  window.CommhubInbox = api;

  var script = document.currentScript;
  if (script && script.getAttribute("data-token")) {
    var start = function () {
      api.mount(script.getAttribute("data-target") || "#commhub-inbox", {
        hub: script.getAttribute("data-hub") || "",
        token: script.getAttribute("data-token"),
        serviceWorker: script.getAttribute("data-service-worker") || ""
      });
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})();
