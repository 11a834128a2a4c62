// Automation Hub web UI: the robot publish form. Sends the package with
// XMLHttpRequest so the upload shows its progress; without JavaScript the
// form posts normally. Plain JavaScript, no build step.
(function () {
  "use strict";

  var form = document.getElementById("publish-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;

  var box = document.getElementById("publish-progress");
  var bar = document.getElementById("publish-bar");
  var status = document.getElementById("publish-status");
  var error = document.getElementById("publish-error");
  var button = document.getElementById("publish-button");
  var busy = false;

  function showStatus(text, percent) {
    if (box) box.hidden = false;
    if (bar) {
      if (percent === null) bar.removeAttribute("value"); // indeterminate
      else bar.value = percent;
    }
    if (status) status.textContent = percent === null ? text : text + " " + percent + "%";
  }

  function fail(message) {
    busy = false;
    if (button) button.disabled = false;
    if (box) box.hidden = true;
    if (error) {
      error.textContent = message || form.dataset.msgFailed;
      error.hidden = false;
      error.setAttribute("tabindex", "-1");
      error.focus();
    }
  }

  form.addEventListener("submit", function (e) {
    if (e.defaultPrevented) return;
    e.preventDefault();
    if (busy) return;
    busy = true;
    if (error) { error.hidden = true; error.textContent = ""; }
    if (button) button.disabled = true;
    showStatus(form.dataset.msgUploading, 0);

    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Accept", "application/json");
    var csrf = document.body.dataset.csrf;
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);

    xhr.upload.onprogress = function (ev) {
      if (!ev.lengthComputable) return;
      var p = Math.min(100, Math.floor(ev.loaded * 100 / ev.total));
      showStatus(form.dataset.msgUploading, p);
    };
    xhr.upload.onload = function () {
      showStatus(form.dataset.msgProcessing, null); // the server checks the package
    };
    xhr.onload = function () {
      var res = null;
      try { res = JSON.parse(xhr.responseText); } catch (err) { res = null; }
      if (xhr.status >= 200 && xhr.status < 300 && res && res.ok) {
        location.href = res.location || location.href;
        return;
      }
      var msg = res && res.error ? res.error : form.dataset.msgFailed;
      if (xhr.status === 401) { location.reload(); return; }
      fail(msg);
    };
    xhr.onerror = function () { fail(form.dataset.msgNetwork); };
    xhr.onabort = function () { fail(form.dataset.msgNetwork); };
    xhr.send(new FormData(form));
  });
})();
