// Node `ws` echo server for the closewise echo benchmark (issue 4).
//
// ws 8 with the optional native bufferutil (masking), no permessage-deflate,
// no client tracking, 64 MiB max payload; text and binary mirrored. Node runs
// JavaScript on one thread. Usage: node ws_echo.js [PORT]; with PORT 0 (the
// default) the chosen port is printed on stdout.
'use strict';

const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 0);
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  backlog: 4096,
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 64 * 1024 * 1024,
});

wss.on('listening', () => {
  process.stdout.write(`${wss.address().port}\n`);
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});

const stop = () => process.exit(0);
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
