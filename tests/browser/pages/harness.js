// Test page for tests/browser: loads a Faye client script (?script=URL), builds a client for
// ?endpoint=URL, disables ?disable=a,b and exposes window.T for the test to drive.
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  var T = window.T = {received: [], events: [], ready: false, subs: {}};

  function message(error) {
    return new Error(error && error.message ? error.message : String(error));
  }

  function boot() {
    var options = {retry: Number(params.get('retry') || 1)};
    if (params.get('websocket')) options.endpoints = {websocket: params.get('websocket')};
    var client = new Faye.Client(params.get('endpoint'), options);
    (params.get('disable') || '').split(',').filter(Boolean).forEach(function (name) {
      client.disable(name);
    });
    client.on('transport:up', function () { T.events.push('up'); });
    client.on('transport:down', function () { T.events.push('down'); });
    T.client = client;
    T.subscribe = function (channel) {
      return new Promise(function (resolve, reject) {
        var sub = client.subscribe(channel, function (data) {
          T.received.push({sub: channel, data: data});
        });
        T.subs[channel] = sub;
        sub.then(function () { resolve(true); }, function (e) { reject(message(e)); });
      });
    };
    T.cancel = function (channel) {
      T.subs[channel].cancel();
      delete T.subs[channel];
      return true;
    };
    T.publish = function (channel, data) {
      return new Promise(function (resolve, reject) {
        client.publish(channel, data).then(function () { resolve(true); }, function (e) { reject(message(e)); });
      });
    };
    // faye 1.4.3 has no public getters for these; our client.js has both.
    T.clientId = function () {
      return client.getClientId ? client.getClientId() : client._dispatcher.clientId;
    };
    T.connectionType = function () {
      return client.getClientId ? client.connectionType : client._dispatcher.connectionType;
    };
    T.ready = true;
    document.getElementById('status').textContent = 'ready';
  }

  var script = document.createElement('script');
  script.src = params.get('script');
  script.onload = boot;
  script.onerror = function () { T.loadError = 'cannot load ' + script.src; };
  document.head.appendChild(script);
})();
