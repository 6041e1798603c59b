// Pages that set data-refresh on <body> (the overview, a sandbox) replace
// their <main> with a fresh copy every few seconds, only while the tab is
// visible. Listings of agents and tasks do not refresh: they are paged and
// reloaded by the user, so a large cluster is never polled in full.
(function () {
  var secs = Number(document.body.dataset.refresh || 0);
  if (!secs) return;
  setInterval(function () {
    if (document.visibilityState !== 'visible') return;
    fetch(location.href, { headers: { 'Accept': 'text/html' } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('main');
        if (fresh) document.getElementById('main').replaceWith(fresh);
      })
      .catch(function () { /* keep the last page; the next tick retries */ });
  }, secs * 1000);
})();
