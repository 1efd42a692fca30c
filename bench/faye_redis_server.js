// faye 1.4.3 on faye-redis 0.2.0: one node of the faye cluster that bench/ compares a cluster of
// bayeux-broker processes against. Like faye_server.js (NodeAdapter on http, mount /faye,
// timeout 60 s, no extensions) but with the Redis engine, so several of these processes on one
// Redis behave as one server. faye-redis 0.2.0 is written for the callback API of the `redis`
// package before v4, so package.json pins redis 3.1.2 beside it.
// Usage: node faye_redis_server.js PORT REDIS_PORT [HOST] [REDIS_HOST]   (hosts default to 127.0.0.1)
'use strict';

const http = require('http');
const faye = require('faye');
const fayeRedis = require('faye-redis');
const version = require('faye/package.json').version;
const engineVersion = require('faye-redis/package.json').version;

const port = parseInt(process.argv[2] || '8001', 10);
const redisPort = parseInt(process.argv[3] || '6379', 10);
const host = process.argv[4] || '127.0.0.1';
const redisHost = process.argv[5] || '127.0.0.1';

const bayeux = new faye.NodeAdapter({
  mount: '/faye',
  timeout: 60,
  engine: { type: fayeRedis, host: redisHost, port: redisPort },
});
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
  console.log(`faye ${version} with faye-redis ${engineVersion} (redis ${redisHost}:${redisPort}) ` +
              `listening on http://${host}:${port}/faye`);
});

function stop() {
  bayeux.close();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
