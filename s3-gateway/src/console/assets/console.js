// Cairn console: live refresh, confirmations, uploads with progress
// (multipart above 16 MiB) and share links. Pages work without it, except
// for uploading and sharing.
(function () {
  "use strict";
  var csrf = document.body.dataset.csrf || "";

  // Live parts: <div data-refresh="URL" data-every="ms"> is redrawn from URL.
  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    var every = parseInt(el.dataset.every || "5000", 10);
    function tick() {
      if (document.hidden) { return setTimeout(tick, every); }
      fetch(el.dataset.refresh, { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { location.href = "/login"; return null; }
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html !== null && html !== undefined) { el.innerHTML = html; }
      }).catch(function () {}).finally(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  });

  // Forms that delete ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) { e.preventDefault(); }
    });
  });

  function api(method, url, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("x-csrf-token", csrf);
      if (onProgress) { xhr.upload.onprogress = function (e) { onProgress(e.loaded); }; }
      xhr.onload = function () {
        var answer = {};
        try { answer = JSON.parse(xhr.responseText || "{}"); } catch (e) { answer = {}; }
        if (xhr.status >= 200 && xhr.status < 300) { resolve(answer); }
        else { reject(new Error(answer.error || ("HTTP " + xhr.status))); }
      };
      xhr.onerror = function () { reject(new Error("the connection failed")); };
      xhr.send(body);
    });
  }

  var SINGLE = 16 * 1024 * 1024, PART = 8 * 1024 * 1024, PARALLEL = 3;

  function q(params) {
    return Object.keys(params).map(function (k) {
      return k + "=" + encodeURIComponent(params[k]);
    }).join("&");
  }

  function uploadOne(base, key, file, progress) {
    if (file.size <= SINGLE) {
      return api("PUT", base + "/object?" + q({ key: key }), file, progress);
    }
    return api("POST", base + "/uploads?" + q({ key: key }), null).then(function (started) {
      var upload = started.upload, count = Math.ceil(file.size / PART);
      var loaded = new Array(count + 1).fill(0), etags = [], next = 1;
      function report() { progress(loaded.reduce(function (a, b) { return a + b; }, 0)); }
      function worker() {
        if (next > count) { return Promise.resolve(); }
        var n = next++;
        var blob = file.slice((n - 1) * PART, Math.min(n * PART, file.size));
        return api("PUT", base + "/part?" + q({ key: key, upload: upload, part: n }), blob,
          function (done) { loaded[n] = done; report(); })
          .then(function (answer) { etags[n] = answer.etag; loaded[n] = blob.size; report(); return worker(); });
      }
      var workers = [];
      for (var i = 0; i < Math.min(PARALLEL, count); i++) { workers.push(worker()); }
      return Promise.all(workers).then(function () {
        var parts = [];
        for (var n = 1; n <= count; n++) { parts.push({ part: n, etag: etags[n] }); }
        return api("POST", base + "/complete?" + q({ key: key, upload: upload }),
          JSON.stringify({ parts: parts }));
      }).catch(function (e) {
        api("DELETE", base + "/upload?" + q({ key: key, upload: upload }), null).catch(function () {});
        throw e;
      });
    });
  }

  var box = document.getElementById("upload");
  var input = document.getElementById("upload-files");
  if (box && input) {
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var base = "/api/b/" + encodeURIComponent(box.dataset.bucket);
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files);
      if (!files.length) { return; }
      var total = files.reduce(function (a, f) { return a + f.size; }, 0) || 1, before = 0;
      bar.hidden = false; bar.max = total; bar.value = 0;
      input.disabled = true;
      var chain = Promise.resolve();
      files.forEach(function (file) {
        chain = chain.then(function () {
          status.textContent = "Uploading " + file.name + "…";
          var start = before;
          return uploadOne(base, box.dataset.prefix + file.name, file, function (done) {
            bar.value = start + done;
          }).then(function () { before += file.size; bar.value = before; });
        });
      });
      chain.then(function () {
        status.textContent = "Uploaded " + files.length + " file" + (files.length > 1 ? "s" : "") + ".";
        setTimeout(function () { location.reload(); }, 400);
      }).catch(function (e) {
        status.textContent = "Upload failed: " + e.message;
        status.className = "msg err";
        input.disabled = false;
      });
    });
  }

  var share = document.getElementById("share");
  if (share) {
    share.addEventListener("click", function () {
      var url = "/api/b/" + encodeURIComponent(share.dataset.bucket) + "/share?" + q({ key: share.dataset.key, hours: 24 });
      api("POST", url, null).then(function (answer) {
        document.getElementById("share-box").hidden = false;
        var field = document.getElementById("share-url");
        field.value = answer.url;
        field.select();
      }).catch(function (e) { window.alert("No link: " + e.message); });
    });
    var copy = document.getElementById("share-copy");
    copy.addEventListener("click", function () {
      var field = document.getElementById("share-url");
      if (navigator.clipboard) { navigator.clipboard.writeText(field.value); }
      else { field.select(); document.execCommand("copy"); }
      copy.textContent = "Copied";
    });
  }
})();
