/*
 * bayeux-broker browser client, served at <mount>/client.js (for example /faye/client.js).
 *
 * Plain JavaScript, no build step. It defines the global `Faye` with the parts of faye's
 * browser API that pages use: `new Faye.Client(url, options)`, `subscribe`, `unsubscribe`,
 * `publish`, `disconnect`, `addExtension`/`removeExtension`, `disable`, `setHeader`,
 * `on`/`off('transport:up' | 'transport:down')`, plus `getClientId()` and `getState()`.
 *
 * Behaviour follows faye 1.4.3 as described in docs/protocol.md §9: the handshake goes over
 * HTTP (XHR on the same origin, CORS across origins, JSONP when CORS is disabled), then the
 * client takes the first usable of websocket, eventsource, long-polling,
 * cross-origin-long-polling and callback-polling that the server offers. One /meta/connect is
 * outstanding at a time; `advice` (retry, handshake, none; interval; timeout) is obeyed; after
 * a re-handshake every subscription is renewed. Unlike faye, a publish or subscribe that failed
 * on the network is re-sent only after the next successful connect, with the current client id,
 * so a restarted broker never sees a stale id from us.
 */
(function (global) {
  'use strict';

  var BAYEUX_VERSION = '1.0';
  var UNCONNECTED = 1, CONNECTING = 2, CONNECTED = 3, DISCONNECTED = 4;
  var TRANSPORTS = ['websocket', 'eventsource', 'long-polling', 'cross-origin-long-polling', 'callback-polling'];
  var MAX_URL_MESSAGE = 2048;  // faye's MAX_REQUEST_SIZE: JSONP URLs stay about 2 KB
  var WS_OPEN_TIMEOUT = 5000;
  var jsonpCount = 0;

  var Faye = {VERSION: '0.1.0', logger: null};

  function log(level, text) {
    var logger = Faye.logger;
    if (!logger) return;
    text = '[Faye.Client] ' + text;
    if (typeof logger === 'function') logger(text);
    else if (typeof logger[level] === 'function') logger[level](text);
  }

  // -- promises with faye's callback/errback helpers ------------------------------------

  function Deferred() {
    var self = this;
    this._settled = false;
    this._promise = new Promise(function (resolve, reject) {
      self._resolve = resolve;
      self._reject = reject;
    });
    this._promise.catch(function () {});  // a page that never listens gets no console noise
  }
  Deferred.prototype.then = function (onFulfilled, onRejected) {
    return this._promise.then(onFulfilled, onRejected);
  };
  Deferred.prototype['catch'] = function (onRejected) { return this._promise.catch(onRejected); };
  Deferred.prototype.callback = function (fn, context) {
    this._promise.then(function (value) { fn.call(context, value); }, function () {});
    return this;
  };
  Deferred.prototype.errback = function (fn, context) {
    this._promise.then(null, function (error) { fn.call(context, error); });
    return this;
  };
  Deferred.prototype._succeed = function (value) {
    if (this._settled) return;
    this._settled = true;
    this._resolve(value);
  };
  Deferred.prototype._fail = function (error) {
    if (this._settled) return;
    this._settled = true;
    this._reject(error);
  };

  /** A Bayeux error string `code:arg1,arg2:message` as faye's Error.parse reads it. */
  function parseError(text) {
    text = text || '';
    var match = /^([0-9]+):([^:]*):(.*)$/.exec(text);
    var error = new Error(match ? match[3] : text);
    error.code = match ? Number(match[1]) : null;
    error.params = match && match[2] ? match[2].split(',') : [];
    return error;
  }

  // -- channels ---------------------------------------------------------------------------

  /** The patterns a published channel matches (faye Channel.expand): /a/b -> /**, /a/b, /a/*, /a/**. */
  function expand(name) {
    var segments = name.split('/').slice(1);
    var patterns = ['/**', name];
    var copy = segments.slice();
    copy[copy.length - 1] = '*';
    patterns.push('/' + copy.join('/'));
    for (var i = 1; i < segments.length; i++) {
      patterns.push('/' + segments.slice(0, i).concat('**').join('/'));
    }
    return patterns;
  }

  function Subscription(client, channel, callback, context) {
    Deferred.call(this);
    this._client = client;
    this._channel = channel;
    this._callback = callback;
    this._context = context;
    this._withChannel = null;
    this._cancelled = false;
  }
  Subscription.prototype = Object.create(Deferred.prototype);
  Subscription.prototype.constructor = Subscription;
  Subscription.prototype.withChannel = function (fn, context) {
    this._withChannel = [fn, context];
    return this;
  };
  Subscription.prototype._deliver = function (message) {
    if (this._cancelled) return;
    if (typeof this._callback === 'function') this._callback.call(this._context, message.data);
    if (this._withChannel) this._withChannel[0].call(this._withChannel[1], message.channel, message.data);
  };
  Subscription.prototype.cancel = function () {
    if (this._cancelled) return;
    this._cancelled = true;
    this._client.unsubscribe(this._channel, this);
  };
  Subscription.prototype.unsubscribe = Subscription.prototype.cancel;

  // -- URLs -------------------------------------------------------------------------------

  function absolute(url) {
    return new URL(url, global.location ? global.location.href : undefined);
  }

  function sameOrigin(url) {
    return !global.location || url.origin === global.location.origin;
  }

  // -- HTTP transports: long-polling (XHR-style POST), cross-origin-long-polling, callback-polling

  function HttpTransport(client, type, url) {
    this.type = type;
    this._client = client;
    this._url = url;
    this._outbox = [];
    this._timer = null;
    this._requests = {};  // message id -> AbortController / JSONP cleanup
  }

  HttpTransport.prototype.send = function (message) {
    this._outbox.push(message);
    if (this._timer !== null) return;
    var self = this;
    // messages queued in one tick travel in one request; faye waits 10 ms before a handshake
    this._timer = setTimeout(function () { self._flush(); }, message.channel === '/meta/handshake' ? 10 : 0);
  };

  HttpTransport.prototype._flush = function () {
    this._timer = null;
    var batch = this._outbox;
    this._outbox = [];
    if (!batch.length) return;
    if (batch.length > 1) {
      // a connect in a batch would hold the other replies for a whole timeout (faye §4.8)
      batch.forEach(function (message) {
        if (message.channel === '/meta/connect') message.advice = {timeout: 0};
      });
    }
    if (this.type === 'callback-polling') {
      var parts = [], current = [];
      batch.forEach(function (message) {
        current.push(message);
        if (current.length > 1 && JSON.stringify(current).length > MAX_URL_MESSAGE) {
          current.pop();
          parts.push(current);
          current = [message];
        }
      });
      parts.push(current);
      parts.forEach(this._jsonp, this);
    } else {
      this._post(batch);
    }
  };

  HttpTransport.prototype._post = function (batch) {
    var self = this, client = this._client;
    var controller = global.AbortController ? new AbortController() : null;
    var cross = this.type === 'cross-origin-long-polling';
    var headers = {};
    Object.keys(client._headers).forEach(function (name) { headers[name] = client._headers[name]; });
    var body;
    if (cross) {
      // a form-style text body keeps the request CORS-simple unless the page set headers
      body = 'message=' + encodeURIComponent(JSON.stringify(batch));
    } else {
      headers['Content-Type'] = 'application/json';
      headers['X-Requested-With'] = 'XMLHttpRequest';
      body = JSON.stringify(batch);
    }
    batch.forEach(function (message) { self._requests[message.id] = controller; });
    global.fetch(this._url.href, {
      method: 'POST',
      headers: headers,
      body: body,
      cache: 'no-store',
      credentials: cross ? 'include' : 'same-origin',
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return response.json();
    }).then(function (replies) {
      self._forget(batch);
      client._receive(replies);
    }, function () {
      self._forget(batch);
      client._failed(batch);
    });
  };

  HttpTransport.prototype._jsonp = function (batch) {
    var self = this, client = this._client;
    var name = '__bbjsonp' + (++jsonpCount) + '__';
    var url = new URL(this._url.href);
    url.searchParams.set('message', JSON.stringify(batch));
    url.searchParams.set('jsonp', name);
    var script = document.createElement('script');
    var done = false;
    var cleanup = function () {
      if (done) return false;
      done = true;
      self._forget(batch);
      try { delete global[name]; } catch (e) { global[name] = undefined; }
      if (script.parentNode) script.parentNode.removeChild(script);
      return true;
    };
    global[name] = function (replies) {
      if (cleanup()) client._receive(replies);
    };
    script.onerror = function () {
      if (cleanup()) client._failed(batch);
    };
    var abort = {abort: function () { if (cleanup()) client._failed(batch); }};
    batch.forEach(function (message) { self._requests[message.id] = abort; });
    script.src = url.href;
    (document.head || document.documentElement).appendChild(script);
  };

  HttpTransport.prototype._forget = function (batch) {
    var requests = this._requests;
    batch.forEach(function (message) { delete requests[message.id]; });
  };

  /** Give up on the request carrying `message` (its reply is overdue). */
  HttpTransport.prototype.abort = function (message) {
    var request = this._requests[message.id];
    if (request) request.abort();
  };

  HttpTransport.prototype.close = function () {};

  // -- WebSocket: one message per frame, replies and deliveries pushed on the same socket --

  function WebSocketTransport(client, url) {
    this.type = 'websocket';
    this._client = client;
    var wsUrl = new URL(url.href);
    wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
    this._url = wsUrl.href;
    this._socket = null;
    this._opening = null;
    this._queue = [];
    this._inFlight = {};
    this.everOpened = false;
  }

  /** Resolves true once the socket is open, false if it cannot open (within WS_OPEN_TIMEOUT). */
  WebSocketTransport.prototype.open = function () {
    if (this._socket && this._socket.readyState === 1) return Promise.resolve(true);
    if (this._opening) return this._opening;
    var self = this;
    this._opening = new Promise(function (resolve) {
      var socket, opened = false, timer;
      try {
        socket = new global.WebSocket(self._url);
      } catch (e) {  // a Content-Security-Policy may forbid it
        self._opening = null;
        return resolve(false);
      }
      timer = setTimeout(function () { socket.close(); }, WS_OPEN_TIMEOUT);
      socket.onopen = function () {
        clearTimeout(timer);
        opened = true;
        self.everOpened = true;
        self._socket = socket;
        self._opening = null;
        resolve(true);
        var queued = self._queue;
        self._queue = [];
        queued.forEach(self.send, self);
      };
      socket.onmessage = function (event) {
        var replies;
        try { replies = JSON.parse(event.data); } catch (e) { return; }
        [].concat(replies).forEach(function (reply) {
          if (reply && reply.successful !== undefined) delete self._inFlight[reply.id];
        });
        self._client._receive(replies);
      };
      socket.onclose = function () {
        clearTimeout(timer);
        socket.onopen = socket.onclose = socket.onmessage = null;
        if (self._socket === socket) self._socket = null;
        self._opening = null;
        var lost = Object.keys(self._inFlight).map(function (id) { return self._inFlight[id]; });
        self._inFlight = {};
        if (!opened) {
          lost = lost.concat(self._queue);
          self._queue = [];
          resolve(false);
        }
        if (lost.length) self._client._failed(lost);
      };
    });
    return this._opening;
  };

  WebSocketTransport.prototype.send = function (message) {
    if (this._socket && this._socket.readyState === 1) {
      this._inFlight[message.id] = message;
      this._socket.send(JSON.stringify([message]));
    } else {
      this._queue.push(message);
      this.open();
    }
  };

  WebSocketTransport.prototype.abort = function () {
    if (this._socket) this._socket.close();
  };

  WebSocketTransport.prototype.close = function () {
    var socket = this._socket;
    this._socket = null;
    this._queue = [];
    this._inFlight = {};
    if (socket) {
      socket.onclose = socket.onmessage = null;
      socket.close();
    }
  };

  // -- EventSource: deliveries on GET <endpoint>/<clientId>, messages by POST -------------

  function EventSourceTransport(client, url, clientId) {
    this.type = 'eventsource';
    this._client = client;
    this._http = new HttpTransport(client, 'eventsource', url);
    var streamUrl = new URL(url.href);
    streamUrl.pathname = streamUrl.pathname.replace(/\/$/, '') + '/' + clientId;
    this._streamUrl = streamUrl.href;
    this._source = null;
  }

  EventSourceTransport.prototype.open = function () {
    var self = this;
    return new Promise(function (resolve) {
      var source = new global.EventSource(self._streamUrl);
      var opened = false;
      source.onopen = function () {
        opened = true;
        self._source = source;
        resolve(true);
      };
      source.onerror = function () {
        // before it opened the stream is unusable; later the browser reconnects on its own,
        // and a dead session is noticed by the next connect (401 + handshake advice)
        if (!opened || source.readyState === 2) {
          source.close();
          if (!opened) resolve(false);
        }
      };
      source.onmessage = function (event) {
        var replies;
        try { replies = JSON.parse(event.data); } catch (e) { return; }
        self._client._receive(replies);
      };
    });
  };

  EventSourceTransport.prototype.send = function (message) { this._http.send(message); };
  EventSourceTransport.prototype.abort = function (message) { this._http.abort(message); };
  EventSourceTransport.prototype.close = function () {
    if (this._source) {
      this._source.onopen = this._source.onerror = this._source.onmessage = null;
      this._source.close();
      this._source = null;
    }
  };

  // -- the client -------------------------------------------------------------------------

  /**
   * `new Faye.Client(endpoint, options)`. Options as in faye: `timeout` and `interval` (seconds,
   * used until the server's advice arrives), `retry` (seconds between attempts after a network
   * failure, default 5), `endpoints` (`{websocket: url}` and so on, per transport).
   */
  function Client(endpoint, options) {
    options = options || {};
    this.endpoint = absolute(endpoint || '/bayeux');
    this._endpoints = {};
    var self = this;
    Object.keys(options.endpoints || {}).forEach(function (type) {
      self._endpoints[type] = absolute(options.endpoints[type]);
    });
    this._retry = 1000 * (options.retry || 5);
    this._advice = {
      reconnect: 'retry',
      interval: 1000 * (options.interval || 0),
      timeout: 1000 * (options.timeout || 60)
    };
    this._headers = {};
    this._disabled = {};
    this._state = UNCONNECTED;
    this._clientId = null;
    this._channels = {};     // channel -> {subs: [Subscription], acked: bool}
    this._extensions = [];
    this._listeners = {};
    this._messageId = 0;
    this._waiting = {};      // message id -> {message, onReply, timer, transport}
    this._whenReady = [];    // actions waiting for the CONNECTED state
    this._resend = [];       // actions to redo after the next successful connect
    this._transport = null;
    this._ws = null;
    this._connectPending = false;
    this._connectTimer = null;
    this._up = null;
    this.connectionType = null;

    if (global.addEventListener) {
      global.addEventListener('beforeunload', function () {
        if (!self._disabled.autodisconnect) self.disconnect();
      });
    }
  }

  Client.prototype.UNCONNECTED = UNCONNECTED;
  Client.prototype.CONNECTING = CONNECTING;
  Client.prototype.CONNECTED = CONNECTED;
  Client.prototype.DISCONNECTED = DISCONNECTED;

  Client.prototype.getClientId = function () { return this._clientId; };
  Client.prototype.getState = function () { return this._state; };

  /** Turn off a transport ('websocket', 'eventsource', ...) or 'autodisconnect'. */
  Client.prototype.disable = function (feature) { this._disabled[feature] = true; };

  /** An HTTP header for every request (browsers cannot put headers on a WebSocket). */
  Client.prototype.setHeader = function (name, value) { this._headers[name] = value; };

  Client.prototype.addExtension = function (extension) { this._extensions.push(extension); };
  Client.prototype.removeExtension = function (extension) {
    this._extensions = this._extensions.filter(function (e) { return e !== extension; });
  };

  Client.prototype.on = Client.prototype.bind = function (event, listener, context) {
    (this._listeners[event] = this._listeners[event] || []).push([listener, context]);
  };
  Client.prototype.off = Client.prototype.unbind = function (event, listener) {
    var list = this._listeners[event] || [];
    this._listeners[event] = listener ? list.filter(function (l) { return l[0] !== listener; }) : [];
  };
  Client.prototype.trigger = function (event) {
    var args = Array.prototype.slice.call(arguments, 1);
    (this._listeners[event] || []).slice().forEach(function (l) { l[0].apply(l[1], args); });
  };

  Client.prototype._endpointFor = function (type) { return this._endpoints[type] || this.endpoint; };

  Client.prototype._usable = function (type) {
    if (this._disabled[type]) return false;
    var url = this._endpointFor(type);
    switch (type) {
      case 'websocket': return !!global.WebSocket;
      case 'eventsource': return !!global.EventSource && !!global.fetch && sameOrigin(url);
      case 'long-polling': return !!global.fetch && sameOrigin(url);
      case 'cross-origin-long-polling': return !!global.fetch && !sameOrigin(url);
      case 'callback-polling': return !!global.document;
    }
    return false;
  };

  /** The connection types we offer in the handshake, in faye's order of preference. */
  Client.prototype._connectionTypes = function () {
    return TRANSPORTS.filter(this._usable, this);
  };

  Client.prototype._httpTransport = function (allowed) {
    var types = ['long-polling', 'cross-origin-long-polling', 'callback-polling'];
    for (var i = 0; i < types.length; i++) {
      if ((!allowed || allowed.indexOf(types[i]) >= 0) && this._usable(types[i])) {
        return new HttpTransport(this, types[i], this._endpointFor(types[i]));
      }
    }
    return null;
  };

  /** After a handshake: the first usable transport the server also supports (faye §9.1). */
  Client.prototype._selectTransport = function (serverTypes) {
    var self = this;
    var offered = function (type) { return serverTypes.indexOf(type) >= 0 && self._usable(type); };
    var tryWebSocket = function () {
      if (!offered('websocket')) return Promise.resolve(null);
      self._ws = self._ws || new WebSocketTransport(self, self._endpointFor('websocket'));
      return self._ws.open().then(function (ok) { return ok ? self._ws : null; });
    };
    var tryEventSource = function () {
      if (!offered('eventsource')) return Promise.resolve(null);
      var transport = new EventSourceTransport(self, self._endpointFor('eventsource'), self._clientId);
      return transport.open().then(function (ok) { return ok ? transport : null; });
    };
    return tryWebSocket().then(function (transport) {
      return transport || tryEventSource();
    }).then(function (transport) {
      return transport || self._httpTransport(serverTypes) || self._httpTransport(null);
    });
  };

  Client.prototype._setTransport = function (transport) {
    if (this._transport && this._transport !== transport) this._transport.close();
    if (this._ws && transport !== this._ws) {
      this._ws.close();
      this._ws = null;
    }
    this._transport = transport;
    this.connectionType = transport.type;
    log('info', 'selected ' + transport.type + ' for ' + this.endpoint.href);
  };

  // -- the session: handshake, connect cycle, advice -----------------------------------------

  Client.prototype.handshake = function () {
    if (this._advice.reconnect === 'none' || this._state !== UNCONNECTED) return;
    this._state = CONNECTING;
    var self = this;
    var transport = this._httpTransport(null) ||
      (this._usable('websocket') ? (this._ws = this._ws || new WebSocketTransport(this, this._endpointFor('websocket'))) : null);
    if (!transport) throw new Error('Could not find a usable connection type for ' + this.endpoint.href);
    this._sendMessage({
      channel: '/meta/handshake',
      version: BAYEUX_VERSION,
      supportedConnectionTypes: this._connectionTypes()
    }, function (reply) {
      if (!reply.successful) {
        self._state = UNCONNECTED;
        self._scheduleConnect(self._retry);
        return;
      }
      self._clientId = reply.clientId;
      self._selectTransport(reply.supportedConnectionTypes || []).catch(function () {
        return self._httpTransport(null) || transport;
      }).then(function (selected) {
        if (self._state !== CONNECTING || self._clientId !== reply.clientId) return;
        self._setTransport(selected);
        self._state = CONNECTED;
        self._resubscribeAll();
        var ready = self._whenReady;
        self._whenReady = [];
        ready.forEach(function (action) { action(); });
        self.connect();
      });
    }, {transport: transport, onFailure: function () {
      self._state = UNCONNECTED;
      self._scheduleConnect(self._retry);
    }});
  };

  Client.prototype.connect = function () {
    if (this._advice.reconnect === 'none' || this._state === DISCONNECTED) return;
    if (this._state === UNCONNECTED) return this.handshake();
    if (this._state !== CONNECTED || this._connectPending) return;
    this._connectPending = true;
    var self = this;
    this._sendMessage({
      channel: '/meta/connect',
      clientId: this._clientId,
      connectionType: this.connectionType
    }, function (reply) {
      self._connectPending = false;
      if (reply.successful) {
        var redo = self._resend;
        self._resend = [];
        redo.forEach(function (action) { action(); });
      }
      self._scheduleConnect(self._advice.interval);
    }, {onFailure: function () {
      self._connectPending = false;
      self._scheduleConnect(self._retry);
    }});
  };

  Client.prototype._scheduleConnect = function (delay) {
    if (this._connectTimer !== null) return;
    var self = this;
    this._connectTimer = setTimeout(function () {
      self._connectTimer = null;
      self.connect();
    }, delay);
  };

  Client.prototype._handleAdvice = function (advice) {
    Object.keys(advice).forEach(function (key) { this._advice[key] = advice[key]; }, this);
    if (this._advice.reconnect === 'handshake' && this._state !== DISCONNECTED) {
      // the server forgot us (a restart, a reaped session): start a new session
      this._state = UNCONNECTED;
      this._clientId = null;
      this._connectPending = false;
      this._scheduleConnect(this._advice.interval);
    }
  };

  /** Run `action` once the session is connected, handshaking first if needed (faye's connect(callback)). */
  Client.prototype._ready = function (action) {
    if (this._state === CONNECTED) return action();
    this._whenReady.push(action);
    this.connect();
  };

  // -- messages in and out ------------------------------------------------------------------

  Client.prototype._pipe = function (stage, message, done) {
    var extensions = this._extensions.slice(), index = 0;
    var next = function (current) {
      if (!current) return;  // an extension dropped it
      var extension = extensions[index++];
      if (!extension) return done(current);
      var fn = extension[stage];
      if (typeof fn !== 'function') return next(current);
      if (fn.length >= 3) fn.call(extension, current, null, next);
      else fn.call(extension, current, next);
    };
    next(message);
  };

  /**
   * Send a message; `onReply` gets the reply. `options.transport` overrides the transport,
   * `options.onFailure` runs if the network fails (default: redo after the next connect).
   */
  Client.prototype._sendMessage = function (message, onReply, options) {
    options = options || {};
    var self = this;
    message.id = (this._messageId = (this._messageId + 1) % 4294967296).toString(36);
    this._pipe('outgoing', message, function (processed) {
      var transport = options.transport || self._transport;
      var timeout = self._advice.timeout ? 1.2 * self._advice.timeout : 1.2 * self._retry;
      var entry = {message: processed, onReply: onReply, onFailure: options.onFailure, transport: transport};
      entry.timer = setTimeout(function () { transport.abort(processed); }, timeout);
      self._waiting[processed.id] = entry;
      transport.send(processed);
    });
  };

  Client.prototype._receive = function (replies) {
    if (!replies) return;
    [].concat(replies).forEach(function (reply) {
      if (!reply) return;
      var entry = null;
      if (reply.successful !== undefined && this._waiting[reply.id]) {
        entry = this._waiting[reply.id];
        delete this._waiting[reply.id];
        clearTimeout(entry.timer);
      }
      this._transportUp(true);
      var self = this;
      this._pipe('incoming', reply, function (message) {
        if (message.advice) self._handleAdvice(message.advice);
        self._deliver(message);
        if (entry && entry.onReply) entry.onReply(message);
      });
    }, this);
  };

  /** The network lost these messages: handshakes and connects retry on their own, the rest after a connect. */
  Client.prototype._failed = function (messages) {
    this._transportUp(false);
    messages.forEach(function (message) {
      var entry = this._waiting[message.id];
      if (!entry) return;
      delete this._waiting[message.id];
      clearTimeout(entry.timer);
      if (entry.onFailure) return entry.onFailure();
      if (message.channel === '/meta/disconnect') return;
      var self = this, clientId = message.clientId;
      this._resend.push(function () {
        // a subscribe for an older session is covered by the re-subscribe after the handshake
        if (message.channel === '/meta/subscribe' && clientId !== self._clientId) return;
        if (message.channel === '/meta/unsubscribe' && clientId !== self._clientId) return;
        var copy = {};
        Object.keys(message).forEach(function (key) { copy[key] = message[key]; });
        delete copy.id;
        copy.clientId = self._clientId;
        self._sendMessage(copy, entry.onReply);
      });
    }, this);
    if (this._state === CONNECTED && !this._connectPending) this._scheduleConnect(this._retry);
  };

  Client.prototype._transportUp = function (up) {
    if (this._up === up) return;
    this._up = up;
    this.trigger(up ? 'transport:up' : 'transport:down');
  };

  /** Hand a message that carries data to every matching subscription (replies never carry data). */
  Client.prototype._deliver = function (message) {
    if (!message.channel || message.data === undefined || message.channel.indexOf('/meta/') === 0) return;
    expand(message.channel).forEach(function (pattern) {
      var record = this._channels[pattern];
      if (record) record.subs.slice().forEach(function (sub) { sub._deliver(message); });
    }, this);
  };

  // -- the public API ------------------------------------------------------------------------

  /** Subscribe `callback(data)` to `channel` (wildcards `*` and `**` allowed); returns a thenable Subscription. */
  Client.prototype.subscribe = function (channel, callback, context) {
    if (Array.isArray(channel)) {
      return channel.map(function (c) { return this.subscribe(c, callback, context); }, this);
    }
    var subscription = new Subscription(this, channel, callback, context);
    var record = this._channels[channel];
    if (record) {
      record.subs.push(subscription);
      if (record.acked) subscription._succeed();
      return subscription;
    }
    record = this._channels[channel] = {subs: [subscription], acked: false, sentFor: null};
    var self = this;
    this._ready(function () { self._sendSubscribe(channel, record); });
    return subscription;
  };

  Client.prototype._sendSubscribe = function (channel, record) {
    var self = this;
    if (this._channels[channel] !== record) return;  // cancelled meanwhile
    if (record.sentFor === this._clientId) return;   // already asked in this session
    record.sentFor = this._clientId;
    this._sendMessage({channel: '/meta/subscribe', clientId: this._clientId, subscription: channel}, function (reply) {
      if (self._channels[channel] !== record) return;
      if (reply.successful) {
        record.acked = true;
        record.subs.forEach(function (sub) { sub._succeed(); });
      } else {
        delete self._channels[channel];
        var error = parseError(reply.error);
        record.subs.forEach(function (sub) { sub._fail(error); });
      }
    });
  };

  Client.prototype._resubscribeAll = function () {
    Object.keys(this._channels).forEach(function (channel) {
      this._sendSubscribe(channel, this._channels[channel]);
    }, this);
  };

  /** Remove `subscription` (or every subscription) from `channel`; the last one out unsubscribes. */
  Client.prototype.unsubscribe = function (channel, subscription) {
    if (Array.isArray(channel)) {
      return channel.map(function (c) { return this.unsubscribe(c, subscription); }, this);
    }
    var record = this._channels[channel];
    if (!record) return;
    record.subs = subscription ? record.subs.filter(function (s) { return s !== subscription; }) : [];
    if (record.subs.length) return;
    delete this._channels[channel];
    if (!record.sentFor) return;  // the server never heard of it
    var self = this;
    this._ready(function () {
      self._sendMessage({channel: '/meta/unsubscribe', clientId: self._clientId, subscription: channel});
    });
  };

  /** Publish `data` on `channel`; the returned thenable settles on the server's reply. */
  Client.prototype.publish = function (channel, data) {
    var publication = new Deferred();
    var self = this;
    this._ready(function () {
      self._sendMessage({channel: channel, data: data, clientId: self._clientId}, function (reply) {
        if (reply.successful) publication._succeed();
        else publication._fail(parseError(reply.error));
      });
    });
    return publication;
  };

  /** End the session (faye sends /meta/disconnect and forgets every subscription). */
  Client.prototype.disconnect = function () {
    var done = new Deferred();
    if (this._state !== CONNECTED) {
      done._succeed();
      return done;
    }
    this._state = DISCONNECTED;
    var self = this;
    var close = function () {
      if (self._transport) self._transport.close();
      if (self._ws) self._ws.close();
    };
    this._sendMessage({channel: '/meta/disconnect', clientId: this._clientId}, function (reply) {
      close();
      if (reply.successful) done._succeed();
      else done._fail(parseError(reply.error));
    }, {onFailure: function () { close(); done._succeed(); }});
    this._channels = {};
    if (this._connectTimer !== null) clearTimeout(this._connectTimer);
    this._connectTimer = null;
    return done;
  };

  Faye.Client = Client;
  Faye.Subscription = Subscription;
  Faye.parseError = parseError;
  global.Faye = Faye;
})(typeof window !== 'undefined' ? window : this);
