// The page at a certificate's QR code: the certificate PDFs or proof bundles dropped or chosen are sent to the
// anonymous verify endpoint as one multipart batch (docs/formats.md 9.2), and each file gets one row, in the
// order given, with its verdict and every check with its status and reason. A file the service refuses (not a
// PDF, not a bundle, too large) refuses the whole batch naming it (`files[i]`): its row shows the problem and
// the other files are sent again without it.
(function () {
  'use strict';
  var script = document.currentScript;
  var endpoint = script.getAttribute('data-endpoint');
  var texts = JSON.parse(document.getElementById('texts').textContent);
  var drop = document.getElementById('drop');
  var input = document.getElementById('file');
  var outcome = document.getElementById('outcome');
  var results = document.getElementById('results');
  // The endpoint's limits (docs/formats.md 9.2): 200 parts and 64 MiB a request; a request is kept under both.
  var MAX_PARTS = 200;
  var MAX_BODY = 60 * 1024 * 1024;
  var PART = /^files\[(\d+)\]$/;

  function row(file, index) {
    var li = document.createElement('li');
    li.className = 'file pending';
    li.setAttribute('data-file', file.name);
    li.setAttribute('data-index', String(index));
    var name = document.createElement('strong');
    name.className = 'name';
    name.textContent = file.name;
    var verdict = document.createElement('span');
    verdict.className = 'verdict-line';
    verdict.textContent = texts.checking;
    var checks = document.createElement('ol');
    checks.className = 'checks';
    li.appendChild(name);
    li.appendChild(document.createTextNode(' '));
    li.appendChild(verdict);
    li.appendChild(checks);
    results.appendChild(li);
    return li;
  }

  function settle(item, state, text) {
    item.state = state;
    item.li.className = 'file ' + state;
    item.li.querySelector('.verdict-line').textContent = text;
  }

  function verdict(item, result) {
    settle(item, result.valid ? 'pass' : 'fail', result.valid ? texts.all_passed : texts.a_check_failed);
    var list = item.li.querySelector('.checks');
    result.fragments.forEach(function (f) {
      var li = document.createElement('li');
      li.className = f.status;
      li.setAttribute('data-check', f.name);
      var label = texts.status[f.status] || f.status;
      li.textContent = f.name + ': ' + label + (f.reason ? ' (' + f.reason.code + ': ' + f.reason.message + ')' : '');
      list.appendChild(li);
    });
  }

  function refused(item, message) {
    var prefix = item.name + ': ';  // the service names the file in its message; the row already does
    var text = message.indexOf(prefix) === 0 ? message.slice(prefix.length) : message;
    settle(item, 'error', texts.could_not_check + ': ' + text);
  }

  function problemText(body) {
    var first = body && body.errors && body.errors[0];
    return (first && first.message) || (body && (body.detail || body.title)) || '';
  }

  // One request for `items`; a refusal naming one part marks its row and sends the others again.
  function send(items) {
    if (!items.length) { return Promise.resolve(); }
    var form = new FormData();
    items.forEach(function (item) {
      form.append('files', new Blob([item.bytes], {type: item.type}), item.name);
    });
    return fetch(endpoint, {method: 'POST', body: form, headers: {'Accept': 'application/json'}})
      .then(function (response) {
        return response.json().then(function (body) { return {ok: response.ok, body: body}; });
      })
      .then(function (r) {
        if (r.ok) {
          r.body.results.forEach(function (result, i) { verdict(items[i], result); });
          return undefined;
        }
        var first = r.body && r.body.errors && r.body.errors[0];
        var match = first && PART.exec(first.field || '');
        var index = match ? Number(match[1]) : -1;
        if (index < 0 || index >= items.length) {
          items.forEach(function (item) { refused(item, problemText(r.body)); });
          return undefined;
        }
        refused(items[index], problemText(r.body));
        return send(items.slice(0, index).concat(items.slice(index + 1)));
      })
      .catch(function (error) {
        items.forEach(function (item) { if (item.state === 'pending') { refused(item, String(error)); } });
      });
  }

  function groups(items) {
    var out = [];
    var current = [];
    var size = 0;
    items.forEach(function (item) {
      var n = item.bytes.byteLength;
      if (current.length && (current.length >= MAX_PARTS || size + n > MAX_BODY)) {
        out.push(current);
        current = [];
        size = 0;
      }
      current.push(item);
      size += n;
    });
    if (current.length) { out.push(current); }
    return out;
  }

  function summary(items) {
    var passed = items.every(function (item) { return item.state === 'pass'; });
    outcome.className = passed ? 'pass' : 'fail';
    if (items.length > 1) {
      outcome.textContent = passed ? texts.all_files_passed : texts.some_files_failed;
    } else if (items[0].state === 'error') {
      outcome.textContent = items[0].li.querySelector('.verdict-line').textContent;
    } else {
      outcome.textContent = passed ? texts.all_passed : texts.a_check_failed;
    }
  }

  function check(files) {
    files = Array.prototype.slice.call(files);
    if (!files.length) { return; }
    outcome.textContent = texts.checking;
    outcome.className = '';
    results.textContent = '';
    var items = files.map(function (file, i) { return {name: file.name, li: row(file, i), state: 'pending'}; });
    Promise.all(files.map(function (file) { return file.arrayBuffer(); })).then(function (buffers) {
      buffers.forEach(function (bytes, i) {
        var head = new Uint8Array(bytes.slice(0, 5));
        items[i].bytes = bytes;
        items[i].type = String.fromCharCode.apply(null, head) === '%PDF-' ? 'application/pdf' : 'application/json';
      });
      return groups(items).reduce(function (done, group) {
        return done.then(function () { return send(group); });
      }, Promise.resolve());
    }).catch(function (error) {
      items.forEach(function (item) { if (item.state === 'pending') { refused(item, String(error)); } });
    }).then(function () { summary(items); });
  }

  input.addEventListener('change', function () { check(input.files); });
  ['dragenter', 'dragover'].forEach(function (name) {
    drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.add('over'); });
  });
  ['dragleave', 'drop'].forEach(function (name) {
    drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.remove('over'); });
  });
  drop.addEventListener('drop', function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) { check(e.dataTransfer.files); }
  });
}());
