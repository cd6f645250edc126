/* commhub's service worker for Web Push: shows each push commhub sends ({title, body, url, notification}) and opens
 * its link when the person clicks it.
 *
 * A service worker must come from the page's own origin: serve a copy of this file from your site (e.g. at
 * /commhub-sw.js) and give its path to the widget (data-service-worker) or to CommhubInbox.enablePush().
 */
"use strict";

function safeUrl(url) {
  if (!url) return "";
  if (/^https?:\/\//i.test(url) || (url.charAt(0) === "/" && url.charAt(1) !== "/")) return url;
  return "";
}

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = {body: event.data ? event.data.text() : ""};
  }
  var options = {body: data.body || "", data: {url: safeUrl(data.url)}};
  if (data.notification) options.tag = data.notification;  // the same message twice shows once
  event.waitUntil(self.registration.showNotification(data.title || "New notification", options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = event.notification.data && event.notification.data.url;
  if (url) event.waitUntil(self.clients.openWindow(url));
});
