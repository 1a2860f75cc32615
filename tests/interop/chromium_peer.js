#!/usr/bin/env node
// Headless Chromium (Debian's chromium, driven by playwright-core) as a
// closewise interop client:
//   node chromium_peer.js CHROMIUM_PATH BASE_URL CASES_JSON
// The path comes from the test (chromium_path() in tests/net/interop_support.hpp).
// Each case {id, path, action: "await" | "close", code, reason} opens
// `new WebSocket(BASE_URL + path)` in an about:blank page; "close" calls
// ws.close(code, reason) once open. Prints the browser's CloseEvent per case:
// {"id", "event": "closed", "code", "reason", "wasClean"}, then {"event": "done"}.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

async function main() {
  const [executablePath, base, casesJson] = process.argv.slice(2);
  const cases = JSON.parse(casesJson);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'closewise-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
      timeout: 30000,
    });
    out({ event: 'version', peer: 'chromium', version: context.browser() ? context.browser().version() : 'persistent' });
    const page = context.pages()[0] || (await context.newPage());
    const userAgent = await page.evaluate(() => navigator.userAgent);
    out({ event: 'version', peer: 'chromium', version: userAgent });
    const results = await page.evaluate(async ({ baseUrl, all }) => {
      const run = (c) => new Promise((resolve) => {
        const ws = new WebSocket(baseUrl + c.path);
        const timer = setTimeout(() => resolve({ id: c.id, event: 'timeout' }), 20000);
        ws.onopen = () => {
          if (c.action === 'close') ws.close(c.code, c.reason);
        };
        ws.onclose = (e) => {
          clearTimeout(timer);
          resolve({ id: c.id, event: 'closed', code: e.code, reason: e.reason, wasClean: e.wasClean });
        };
      });
      return Promise.all(all.map(run));
    }, { baseUrl: base, all: cases });
    for (const r of results) out(r);
    out({ event: 'done' });
  } catch (e) {
    out({ event: 'error', error: String(e) });
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0));
