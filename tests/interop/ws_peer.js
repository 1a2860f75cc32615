#!/usr/bin/env node
// Node `ws` as a closewise interop peer; the same protocol as py_peer.py:
//   node ws_peer.js server [--cert FILE --key FILE]
//   node ws_peer.js client BASE_URL CASES_JSON [--ca FILE]
// One JSON object per line on stdout. A "closed" line carries the close code
// and reason the peer received from closewise (1006 when there was none).
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocket, WebSocketServer } = require('ws');

const MAX_PAYLOAD = 64 * 1024 * 1024;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const arg = (args, name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

// Deterministic test data; text is multibyte UTF-8 of exactly `size` bytes.
function payload(size, text) {
  if (text) return 'é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2);
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = ((i * 131) ^ (i >> 8)) & 0xff;
  return b;
}

function parsePath(path) {
  const parts = path.split('?')[0].replace(/^\/+|\/+$/g, '').split('/');
  const action = parts[0] || '';
  const code = action === 'close' ? Number(parts[1]) : undefined;
  const reason = action === 'close' && parts[2] ? Buffer.from(parts[2], 'hex').toString('utf8') : '';
  return { action, code, reason };
}

function serve(args) {
  const cert = arg(args, '--cert');
  let wss;
  let http;
  if (cert) {
    http = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(arg(args, '--key')) });
    wss = new WebSocketServer({ server: http, maxPayload: MAX_PAYLOAD });
  } else {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: MAX_PAYLOAD });
  }
  wss.on('connection', (ws, req) => {
    const path = req.url;
    const { action, code, reason } = parsePath(path);
    ws.on('close', (c, r) => out({ event: 'closed', path, code: c, reason: r.toString('utf8') }));
    ws.on('error', () => {});
    if (action === 'close') ws.close(code, reason);
    else if (action === 'drop') ws.terminate();
    else if (action === 'echo') ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const listening = () => out({ event: 'listening', port: (http || wss).address().port });
  if (http) http.listen(0, '127.0.0.1', listening);
  else wss.on('listening', listening);
}

function runCase(base, c, ca) {
  return new Promise((resolve) => {
    const ws = new WebSocket(base + c.path, { ca, maxPayload: MAX_PAYLOAD });
    let opened = false;
    ws.on('error', (e) => {
      if (!opened) out({ id: c.id, event: 'error', error: String(e) });
    });
    ws.on('open', async () => {
      opened = true;
      if (c.action === 'close') ws.close(c.code, Buffer.from(c.reason, 'hex').toString('utf8'));
      else if (c.action === 'drop') ws.terminate();
      else if (c.action === 'echo') {
        const bad = [];
        const queue = [];
        let waiter = null;
        ws.on('message', (data, isBinary) => {
          const m = isBinary ? data : data.toString('utf8');
          if (waiter) { const w = waiter; waiter = null; w(m); } else queue.push(m);
        });
        const next = () => new Promise((r) => (queue.length ? r(queue.shift()) : (waiter = r)));
        for (const [size, text] of c.sizes) {
          const data = payload(size, text);
          ws.send(data, { binary: !text });
          const back = await next();
          const same = text ? back === data : Buffer.isBuffer(back) && back.equals(data);
          if (!same) bad.push(size);
        }
        ws.removeAllListeners('close');
        ws.on('close', (code) => { out({ id: c.id, event: 'echo', bad, code }); resolve(); });
        ws.close(1000);
      }
    });
    ws.on('close', (code, reason) => {
      if (!opened) return resolve();
      if (c.action !== 'echo') out({ id: c.id, event: 'closed', code, reason: reason.toString('utf8') });
      if (c.action !== 'echo') resolve();
    });
  });
}

async function connect(args) {
  const [base, casesJson] = args;
  const caFile = arg(args, '--ca');
  const ca = caFile ? fs.readFileSync(caFile) : undefined;
  await Promise.all(JSON.parse(casesJson).map((c) => runCase(base, c, ca)));
  out({ event: 'done' });
  process.exit(0);
}

out({ event: 'version', peer: 'ws', version: require('ws/package.json').version });
if (process.argv[2] === 'server') serve(process.argv.slice(3));
else connect(process.argv.slice(3));
