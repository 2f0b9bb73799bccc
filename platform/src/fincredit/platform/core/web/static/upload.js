// The provider's upload form with a progress bar: the same multipart POST the form makes without
// scripts, sent with XMLHttpRequest so its upload progress can be shown; the CSRF token travels as the
// form field, as without scripts. On success the browser goes to the submission's page.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  const box = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const status = document.getElementById("upload-status");
  const button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    box.hidden = false;
    bar.value = 0;
    button.disabled = true;
    status.textContent = status.dataset.sending;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 100;
      status.textContent = status.dataset.processing;
    });
    xhr.addEventListener("load", function () {
      let answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
      if (xhr.status >= 200 && xhr.status < 300 && answer.url) {
        window.location.assign(answer.url);
        return;
      }
      button.disabled = false;
      status.textContent = status.dataset.failed + " " + (answer.error || answer.detail || xhr.statusText);
      status.classList.add("alert");
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      status.textContent = status.dataset.failed;
      status.classList.add("alert");
    });
    xhr.send(new FormData(form));
  });
})();
