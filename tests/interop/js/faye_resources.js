'use strict';
// The npm `faye` 1.4.3 Node client subscribed to /resources/**: print every change event it gets.
//
//   node faye_resources.js <endpoint-url> changes <websocket|long-polling>
//
// Every line on stdout is one JSON object (the format of faye_scenario.js):
//   {"event":"step", "name":"subscribed"}   the subscription is confirmed; the harness now makes its
//                                          REST calls, then writes on stdin how many events it expects
//   {"event":"received", "client":"watcher", "tag":"/resources/**", "channel":CH, "data":{...}}
//   {"event":"result", "ok":true|false, "count":N}   the last line; exit status 0 only when ok
// Once the expected number has arrived the script waits a little longer, so that an extra event
// (a duplicate, a change that should not have been published) would still be seen and counted.

const faye = require('faye');

const [url, scenario, transport] = process.argv.slice(2);
const DEADLINE_MS = Number(process.env.INTEROP_DEADLINE_MS || 20000);
const EXTRA_WAIT_MS = 400;
const START = Date.now();
const received = [];

function emit(event) {
  process.stdout.write(JSON.stringify({ ...event, t: Date.now() - START }) + '\n');
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

async function changes() {
  const client = new faye.Client(url);
  if (transport === 'long-polling') client.disable('websocket');
  else if (transport !== 'websocket') throw new Error('unknown transport ' + transport);
  const subscription = client.subscribe('/resources/**').withChannel((channel, data) => {
    const event = { event: 'received', client: 'watcher', tag: '/resources/**', channel, data };
    received.push(event);
    emit(event);
  });
  await settle(subscription, 'subscribe /resources/**');
  emit({ event: 'step', name: 'subscribed' });
  const expected = Number(await stdinLine());
  if (!Number.isInteger(expected) || expected < 0) throw new Error('expected a count on stdin');
  for (;;) {
    if (received.length >= expected) break;
    await sleep(10);
  }
  await sleep(EXTRA_WAIT_MS);
  const disconnect = client.disconnect();
  if (disconnect) await settle(disconnect, 'disconnect', 4000).catch(() => undefined);
  return { count: received.length };
}

async function main() {
  if (scenario !== 'changes') throw new Error('unknown scenario ' + scenario);
  const details = await changes();
  emit({ event: 'result', ok: true, ...details });
}

const watchdog = setTimeout(() => {
  emit({ event: 'result', ok: false, error: 'scenario deadline of ' + DEADLINE_MS + ' ms passed', count: received.length });
  process.exit(1);
}, DEADLINE_MS);

main().then(
  () => { clearTimeout(watchdog); process.exit(0); },
  (error) => { emit({ event: 'result', ok: false, error: String(error && error.stack || error) }); process.exit(1); },
);
