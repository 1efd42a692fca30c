// The faye 1.4.3 Node server that bench/ compares bayeux-broker against: a plain NodeAdapter
// on http, mount /faye, timeout 60 s, default memory engine, no extensions.
// Usage: node faye_server.js PORT [HOST]   (HOST defaults to 127.0.0.1)
'use strict';

const http = require('http');
const faye = require('faye');
const version = require('faye/package.json').version;

const port = parseInt(process.argv[2] || '8001', 10);
const host = process.argv[3] || '127.0.0.1';

const bayeux = new faye.NodeAdapter({ mount: '/faye', timeout: 60 });
const server = http.createServer((request, response) => {
  response.writeHead(404, { 'Content-Type': 'text/plain' });
  response.end('Not found');
});
bayeux.attach(server);

server.on('error', (error) => {
  console.error(`faye: cannot listen on ${host}:${port}: ${error.message}`);
  process.exit(2);
});

server.listen(port, host, 2048, () => {
  console.log(`faye ${version} listening on http://${host}:${port}/faye`);
});

function stop() {
  bayeux.close();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
