// A faye 1.4.3 NodeAdapter for the Python client's tests (tests/clients/test_client_faye.py):
// mount /faye, timeout 3 s, and one incoming extension that refuses subscribes and publishes on
// /private/** unless ext.token is "secret" (faye's documented authentication pattern).
// Usage: node faye_python_peer.js PORT   -> prints "faye VERSION listening on http://127.0.0.1:PORT/faye"
'use strict';

const http = require('http');
const faye = require('faye');
const version = require('faye/package.json').version;

const port = parseInt(process.argv[2] || '0', 10);
const bayeux = new faye.NodeAdapter({ mount: '/faye', timeout: 3 });

bayeux.addExtension({
  incoming(message, callback) {
    const target = message.channel === '/meta/subscribe' ? message.subscription : message.channel;
    if (typeof target === 'string' && target.startsWith('/private/')) {
      if (!message.ext || message.ext.token !== 'secret') message.error = '403::Authentication required';
    }
    callback(message);
  },
});

const server = http.createServer((request, response) => {
  response.writeHead(404, { 'Content-Type': 'text/plain' });
  response.end('Not found');
});
bayeux.attach(server);
server.listen(port, '127.0.0.1', () => {
  console.log(`faye ${version} listening on http://127.0.0.1:${server.address().port}/faye`);
});

function stop() {
  bayeux.close();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
