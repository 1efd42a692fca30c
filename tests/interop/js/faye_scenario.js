'use strict';
// Drive the npm `faye` 1.4.3 Node client against a Bayeux endpoint and print what it saw.
//
//   node faye_scenario.js <endpoint-url> <scenario> <websocket|long-polling>
//
// Every line on stdout is one JSON object:
//   {"event":"out"|"in", "client":NAME, "message":{...}}   every message through the client's extensions
//   {"event":"received", "client":NAME, "tag":TAG, "channel":CH, "data":{...}}   a subscriber callback ran
//   {"event":"step", "name":...}   progress markers; "waiting" asks the test harness for a line on stdin
//   {"event":"result", "ok":true|false, ...}   the last line; exit status 0 only when ok
// Each line also has "t": milliseconds since the script started.
// The pytest wrappers in tests/interop/test_faye_client.py assert on these lines.

const faye = require('faye');

const [url, scenario, transport] = process.argv.slice(2);
const DEADLINE_MS = Number(process.env.INTEROP_DEADLINE_MS || 20000);

const events = [];
const clients = [];

const START = Date.now();

function emit(event) {
  process.stdout.write(JSON.stringify({ ...event, t: Date.now() - START }) + '\n');
}

function record(event) {
  events.push(event);
  emit(event);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what, predicate, ms = 8000) {
  const until = Date.now() + ms;
  for (;;) {
    const found = events.find(predicate);
    if (found) return found;
    if (Date.now() > until) throw new Error('timed out waiting for ' + what);
    await sleep(10);
  }
}

function received(client, tag) {
  return events.filter((e) => e.event === 'received' && e.client === client && (!tag || e.tag === tag));
}

function wireIn(client, predicate) {
  return events.filter((e) => e.event === 'in' && e.client === client && predicate(e.message));
}

// A faye client with a logging extension registered first, so it sees what goes on the wire
// after any extension the scenario adds (outgoing extensions run in registration order).
function makeClient(name, extensions = []) {
  const client = new faye.Client(url);
  if (transport === 'long-polling') client.disable('websocket');
  else if (transport !== 'websocket') throw new Error('unknown transport ' + transport);
  for (const extension of extensions) client.addExtension(extension);
  client.addExtension({
    outgoing(message, callback) {
      record({ event: 'out', client: name, message });
      callback(message);
    },
    incoming(message, callback) {
      record({ event: 'in', client: name, message });
      callback(message);
    },
  });
  clients.push(client);
  return client;
}

function subscribe(client, name, channel, tag = channel) {
  const subscription = client.subscribe(channel).withChannel((ch, data) => {
    record({ event: 'received', client: name, tag, channel: ch, data });
  });
  return subscription;
}

function settle(thenable, what, ms = 8000) {
  return Promise.race([
    new Promise((resolve, reject) => thenable.then(resolve, (error) => reject(new Error(what + ' failed: ' + JSON.stringify(error))))),
    sleep(ms).then(() => { throw new Error('timed out: ' + what); }),
  ]);
}

function stdinLine() {
  return new Promise((resolve) => {
    let buffer = '';
    const onData = (chunk) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline >= 0) {
        process.stdin.off('data', onData);
        process.stdin.pause();
        resolve(buffer.slice(0, newline));
      }
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', onData);
    process.stdin.resume();
  });
}

async function disconnectAll() {
  const results = [];
  for (const client of clients) {
    const promise = client.disconnect();
    if (promise) results.push(settle(promise, 'disconnect', 4000).then(() => true, () => false));
  }
  return (await Promise.all(results)).every(Boolean);
}

const scenarios = {
  // Subscribe, publish to self, and receive a publish made by a second client; then disconnect.
  async pubsub() {
    const a = makeClient('a');
    const b = makeClient('b');
    await settle(subscribe(a, 'a', '/interop/chat'), 'subscribe a');
    await settle(a.publish('/interop/chat', { text: 'from-a', n: 1 }), 'publish a');
    await settle(b.publish('/interop/chat', { text: 'from-b', n: 2 }), 'publish b');
    await waitFor('both messages at a', () => received('a').length >= 2);
    await sleep(200); // a duplicate would show up here
    return { disconnected: await disconnectAll() };
  },

  // Three clients: one on /wild/*, one on /wild/**, one publishing. The server routes.
  async wildcards() {
    const one = makeClient('one');
    const many = makeClient('many');
    const pub = makeClient('pub');
    await settle(subscribe(one, 'one', '/wild/*'), 'subscribe /wild/*');
    await settle(subscribe(many, 'many', '/wild/**'), 'subscribe /wild/**');
    for (const channel of ['/wild/x', '/wild/x/y', '/other/x', '/wild/end']) {
      await settle(pub.publish(channel, { to: channel }), 'publish ' + channel);
    }
    // /wild/end was published last by the same client: once both have it, everything earlier is in.
    await waitFor('/wild/end at one', () => received('one').some((e) => e.channel === '/wild/end'));
    await waitFor('/wild/end at many', () => received('many').some((e) => e.channel === '/wild/end'));
    await sleep(200);
    return {};
  },

  // cancel() a subscription: after the server confirms the unsubscribe, nothing more arrives.
  async unsubscribe() {
    const a = makeClient('a');
    const b = makeClient('b');
    const subscription = subscribe(a, 'a', '/unsub/topic');
    await settle(subscription, 'subscribe /unsub/topic');
    await settle(subscribe(a, 'a', '/unsub/sentinel'), 'subscribe /unsub/sentinel');
    await settle(b.publish('/unsub/topic', { n: 1 }), 'publish 1');
    await waitFor('first message', () => received('a', '/unsub/topic').length >= 1);
    subscription.cancel();
    await waitFor('unsubscribe reply', () => wireIn('a', (m) => m.channel === '/meta/unsubscribe').length > 0);
    await settle(b.publish('/unsub/topic', { n: 2 }), 'publish 2');
    await settle(b.publish('/unsub/sentinel', { n: 3 }), 'publish sentinel');
    await waitFor('sentinel', () => received('a', '/unsub/sentinel').length >= 1);
    await sleep(300);
    return {};
  },

  // An outgoing extension on the publisher adds ext.token; a plain subscriber sees it in the
  // delivered message, so it crossed the server.
  async extensions() {
    const tokenExtension = {
      outgoing(message, callback) {
        message.ext = Object.assign({}, message.ext, { token: 'secret-123' });
        callback(message);
      },
    };
    const seenIncoming = [];
    const incomingExtension = {
      incoming(message, callback) {
        if (!message.channel.startsWith('/meta/')) seenIncoming.push(message.channel);
        callback(message);
      },
    };
    const sub = makeClient('sub', [incomingExtension]);
    const pub = makeClient('pub', [tokenExtension]);
    await settle(subscribe(sub, 'sub', '/ext/chan'), 'subscribe');
    await settle(pub.publish('/ext/chan', { text: 'with token' }), 'publish');
    await waitFor('delivery', () => received('sub').length >= 1);
    return { subIncomingExtensionSaw: seenIncoming };
  },

  // The harness makes the server forget this client (restart or session expiry), then writes a
  // line on stdin. A fresh client then publishes until the old subscription receives something.
  async recovery() {
    const a = makeClient('a');
    const before = makeClient('before');
    await settle(subscribe(a, 'a', '/recover/topic'), 'subscribe');
    await settle(before.publish('/recover/topic', { phase: 'before' }), 'publish before');
    await waitFor('message before', () => received('a').length >= 1);
    // Let a connect be sent (and held) so the client is mid-cycle when the server goes away.
    await sleep(300);
    emit({ event: 'step', name: 'waiting' });
    const line = await stdinLine();
    record({ event: 'step', name: 'resumed', line });
    const after = makeClient('after');
    let n = 0;
    const until = Date.now() + 15000;
    while (!received('a').some((e) => e.data.phase === 'after')) {
      if (Date.now() > until) throw new Error('timed out waiting for a publish after recovery');
      n += 1;
      after.publish('/recover/topic', { phase: 'after', n });
      await sleep(250);
    }
    return { publishesAfter: n };
  },
};

async function main() {
  const run = scenarios[scenario];
  if (!run) throw new Error('unknown scenario ' + scenario);
  const details = await run();
  await disconnectAll(); // leave no session behind on the shared broker (a no-op for disconnected clients)
  emit({ event: 'result', ok: true, ...details });
}

const watchdog = setTimeout(() => {
  emit({ event: 'result', ok: false, error: 'scenario deadline of ' + DEADLINE_MS + ' ms passed' });
  process.exit(1);
}, DEADLINE_MS);

main().then(
  () => { clearTimeout(watchdog); process.exit(0); },
  (error) => { emit({ event: 'result', ok: false, error: String(error && error.stack || error) }); process.exit(1); },
);
