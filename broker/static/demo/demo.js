// The demo page at /: a chat room and a live table of a REST collection, both over the
// broker with our browser client (<mount>/client.js). Plain JS, no build step.
(function () {
  'use strict';
  var mount = document.body.getAttribute('data-mount');
  var client = new Faye.Client(location.origin + mount);
  window.demo = {client: client};
  var status = document.getElementById('status');

  function showUp() {
    status.textContent = 'live over ' + (client.connectionType || 'the broker');
    status.className = 'status up';
  }
  client.on('transport:up', showUp);
  client.on('transport:down', function () {
    status.textContent = 'reconnecting…';
    status.className = 'status down';
  });

  // -- chat ---------------------------------------------------------------------------
  var nameInput = document.getElementById('name');
  var textInput = document.getElementById('text');
  var list = document.getElementById('messages');
  var storedName = null;
  try { storedName = localStorage.getItem('demo-name'); } catch (e) { /* private mode */ }
  nameInput.value = storedName || 'guest-' + Math.floor(Math.random() * 1000);
  var me = Math.random().toString(36).slice(2);

  var chat = client.subscribe('/demo/chat', function (message) {
    if (!message || typeof message.text !== 'string') return;
    var item = document.createElement('li');
    if (message.from === me) item.className = 'mine';
    var who = document.createElement('span');
    who.className = 'who';
    who.textContent = String(message.name || 'someone');
    item.appendChild(who);
    item.appendChild(document.createTextNode(message.text));
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  });

  chat.then(showUp);  // by now the transport is chosen

  document.getElementById('chat-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var text = textInput.value.trim();
    if (!text) return;
    var name = nameInput.value.trim() || 'someone';
    try { localStorage.setItem('demo-name', name); } catch (e) { /* private mode */ }
    client.publish('/demo/chat', {name: name, text: text, from: me});
    textInput.value = '';
    textInput.focus();
  });

  // -- live table -------------------------------------------------------------------------
  var tbody = document.querySelector('#rows tbody');
  var empty = document.getElementById('empty');
  var collectionInput = document.getElementById('collection');
  var watching = null;   // {name, subscription, rows: Map id -> tr, seen: Set ids changed by events}

  function render(row, change) {
    row.cells[1].firstChild.textContent = JSON.stringify(change.data);
    row.cells[2].textContent = change.version === undefined ? '' : String(change.version);
    row.classList.remove('changed');
    void row.offsetWidth;  // restart the flash animation
    row.classList.add('changed');
  }

  function upsert(state, change) {
    var row = state.rows.get(change.id);
    if (!row) {
      row = tbody.insertRow();
      row.setAttribute('data-id', change.id);
      row.insertCell().textContent = change.id;
      row.insertCell().appendChild(document.createElement('code'));
      row.insertCell();
      state.rows.set(change.id, row);
    }
    render(row, change);
  }

  function remove(state, id) {
    var row = state.rows.get(id);
    if (row) row.remove();
    state.rows.delete(id);
  }

  function refreshEmpty() {
    empty.style.display = tbody.rows.length ? 'none' : '';
  }

  function watch(name) {
    if (watching) {
      watching.subscription.cancel();
      tbody.textContent = '';
    }
    var state = {name: name, rows: new Map(), seen: new Set()};
    watching = state;
    document.querySelectorAll('.coll').forEach(function (el) { el.textContent = name; });
    document.getElementById('curl').textContent =
      'curl -X POST ' + location.origin + '/api/' + name + " -H 'Content-Type: application/json' \\\n" +
      "     -d '{\"id\": \"milk\", \"title\": \"Buy milk\", \"done\": false}'\n" +
      'curl -X PATCH ' + location.origin + '/api/' + name + "/milk -H 'Content-Type: application/json' -d '{\"done\": true}'\n" +
      'curl -X DELETE ' + location.origin + '/api/' + name + '/milk';
    // subscribe first, then list, so that no change falls between the two
    state.subscription = client.subscribe('/resources/' + name, function (change) {
      if (watching !== state || !change || typeof change.id !== 'string') return;
      state.seen.add(change.id);
      if (change.action === 'deleted') remove(state, change.id);
      else upsert(state, change);
      refreshEmpty();
    });
    state.subscription.then(function () {
      return fetch('/api/' + encodeURIComponent(name) + '?limit=100', {headers: {Accept: 'application/json'}});
    }).then(function (response) {
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return response.json();
    }).then(function (page) {
      if (watching !== state) return;
      (page.items || []).forEach(function (object) {
        if (!state.seen.has(object.id)) upsert(state, {id: object.id, data: object});
      });
      refreshEmpty();
      document.body.setAttribute('data-table-ready', name);
    }, function (error) {
      empty.textContent = 'Cannot list /api/' + name + ': ' + error.message;
    });
  }

  document.getElementById('collection-form').addEventListener('submit', function (event) {
    event.preventDefault();
    if (collectionInput.checkValidity()) watch(collectionInput.value);
  });
  watch(collectionInput.value);
})();
