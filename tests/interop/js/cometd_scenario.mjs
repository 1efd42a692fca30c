// Drive the CometD JavaScript client (npm `cometd`, in Node through `cometd-nodejs-client`) against a
// Bayeux endpoint and print what it saw.
//
//   node cometd_scenario.mjs <endpoint-url> <scenario> <websocket|long-polling>
//
// Output: one JSON object per line, in the same shape as faye_scenario.js:
//   {"event":"out"|"in", "client":NAME, "message":{...}}   every message through the client's extension
//   {"event":"received", "client":NAME, "channel":CH, "data":{...}}   a subscriber callback ran
//   {"event":"transport", "client":NAME, "type":...}   the transport CometD negotiated
//   {"event":"result", "ok":true|false, ...}   the last line; exit status 0 only when ok
// Each line also has "t": milliseconds since the script started.

import { adapt } from 'cometd-nodejs-client';
import { CometD } from 'cometd';

adapt(); // window.XMLHttpRequest and window.WebSocket for Node

const [url, scenario, transport] = process.argv.slice(2);
const DEADLINE_MS = Number(process.env.INTEROP_DEADLINE_MS || 20000);
const START = Date.now();
const events = [];
const clients = [];

function emit(event) {
  process.stdout.write(JSON.stringify({ ...event, t: Date.now() - START }) + '\n');
}

function record(event) {
  events.push(event);
  emit(event);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what, predicate, ms = 8000) {
  const until = Date.now() + ms;
  for (;;) {
    const found = events.find(predicate);
    if (found) return found;
    if (Date.now() > until) throw new Error('timed out waiting for ' + what);
    await sleep(10);
  }
}

function received(client) {
  return events.filter((e) => e.event === 'received' && e.client === client);
}

// A reply callback as a promise that fails unless the reply is successful.
function reply(what, start, ms = 8000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out: ' + what)), ms);
    start((message) => {
      clearTimeout(timer);
      if (message && message.successful) resolve(message);
      else reject(new Error(what + ' failed: ' + JSON.stringify(message)));
    });
  });
}

function makeClient(name) {
  const cometd = new CometD(name);
  if (transport === 'long-polling') {
    cometd.unregisterTransport('websocket');
  } else if (transport !== 'websocket') {
    throw new Error('unknown transport ' + transport);
  }
  cometd.configure({ url, logLevel: 'warn' });
  cometd.registerExtension('interop-log', {
    outgoing(message) {
      record({ event: 'out', client: name, message });
      return message;
    },
    incoming(message) {
      record({ event: 'in', client: name, message });
      return message;
    },
  });
  clients.push(cometd);
  return cometd;
}

async function handshake(cometd, name) {
  await reply('handshake ' + name, (done) => cometd.handshake(done));
  // The first /meta/connect follows the handshake; wait until the connection is established.
  await waitFor('first connect reply for ' + name, (e) => e.event === 'in' && e.client === name
    && e.message.channel === '/meta/connect' && e.message.successful === true);
  record({ event: 'transport', client: name, type: cometd.getTransport().type });
}

const scenarios = {
  // Handshake, subscribe, publish, receive its own publish and one from a second client, disconnect.
  async pubsub() {
    const a = makeClient('a');
    const b = makeClient('b');
    await handshake(a, 'a');
    await handshake(b, 'b');
    await reply('subscribe', (done) => a.subscribe('/cometd/chat', (message) => {
      record({ event: 'received', client: 'a', channel: message.channel, data: message.data });
    }, done));
    await reply('publish a', (done) => a.publish('/cometd/chat', { text: 'from-a', n: 1 }, done));
    await reply('publish b', (done) => b.publish('/cometd/chat', { text: 'from-b', n: 2 }, done));
    await waitFor('both messages', () => received('a').length >= 2);
    await sleep(200); // a duplicate would show up here
    let disconnected = true;
    for (const client of clients) {
      try {
        await reply('disconnect', (done) => client.disconnect(done), 4000);
      } catch (error) {
        record({ event: 'step', name: 'disconnect-failed', error: String(error) });
        disconnected = false;
      }
    }
    return { disconnected };
  },
};

async function main() {
  const run = scenarios[scenario];
  if (!run) throw new Error('unknown scenario ' + scenario);
  const details = await run();
  emit({ event: 'result', ok: true, ...details });
}

const watchdog = setTimeout(() => {
  emit({ event: 'result', ok: false, error: 'scenario deadline of ' + DEADLINE_MS + ' ms passed' });
  process.exit(1);
}, DEADLINE_MS);

main().then(
  () => { clearTimeout(watchdog); process.exit(0); },
  (error) => { emit({ event: 'result', ok: false, error: String((error && error.stack) || error) }); process.exit(1); },
);
