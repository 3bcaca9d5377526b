// The page at a certificate's QR code: a dropped or chosen certificate PDF or proof bundle is sent to the
// anonymous verify endpoint and every check is listed with its status and reason (docs/formats.md 9.2).
(function () {
  'use strict';
  var script = document.currentScript;
  var endpoint = script.getAttribute('data-endpoint');
  var texts = JSON.parse(document.getElementById('texts').textContent);
  var drop = document.getElementById('drop');
  var input = document.getElementById('file');
  var outcome = document.getElementById('outcome');
  var list = document.getElementById('checks');

  function show(file) {
    outcome.textContent = texts.checking;
    outcome.className = '';
    list.textContent = '';
    file.arrayBuffer().then(function (bytes) {
      var head = new Uint8Array(bytes.slice(0, 5));
      var pdf = String.fromCharCode.apply(null, head) === '%PDF-';
      return fetch(endpoint, {method: 'POST', body: bytes,
        headers: {'Content-Type': pdf ? 'application/pdf' : 'application/json', 'Accept': 'application/json'}});
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, body: body}; });
    }).then(function (r) {
      if (!r.ok) {
        outcome.textContent = texts.could_not_check + ': ' + (r.body.detail || r.body.title || '');
        outcome.className = 'fail';
        return;
      }
      outcome.textContent = r.body.valid ? texts.all_passed : texts.a_check_failed;
      outcome.className = r.body.valid ? 'pass' : 'fail';
      r.body.fragments.forEach(function (f) {
        var li = document.createElement('li');
        li.className = f.status;
        li.setAttribute('data-check', f.name);
        var label = texts.status[f.status] || f.status;
        li.textContent = f.name + ': ' + label + (f.reason ? ' (' + f.reason.code + ': ' + f.reason.message + ')' : '');
        list.appendChild(li);
      });
    }).catch(function (error) {
      outcome.textContent = texts.could_not_check + ': ' + error;
      outcome.className = 'fail';
    });
  }

  input.addEventListener('change', function () { if (input.files.length) { show(input.files[0]); } });
  ['dragenter', 'dragover'].forEach(function (name) {
    drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.add('over'); });
  });
  ['dragleave', 'drop'].forEach(function (name) {
    drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.remove('over'); });
  });
  drop.addEventListener('drop', function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) { show(e.dataTransfer.files[0]); }
  });
}());
