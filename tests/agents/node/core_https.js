// node-core-https: an HTTPS GET with Node's own https module, the way a Node agent's non-gRPC
// traffic (a WebSocket fallback, a REST call) goes out. Node reads proxy variables for it only
// with NODE_USE_ENV_PROXY=1, and only from Node 22.21 / 24.5 on; this shows what the Node here
// does. Nothing here knows about proxies.
//
//   node core_https.js --url https://HOST:PORT/PATH [--timeout-ms 5000]
//
// Prints one JSON line {runtime, ok, status, detail}: ok when an HTTP answer came back (any
// status: the request got through), exits 0/1, 64 on a usage error.
'use strict';

const https = require('https');

const args = process.argv.slice(2);
let url = null;
let timeoutMs = 5000;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--url' && i + 1 < args.length) url = args[++i];
  else if (args[i] === '--timeout-ms' && i + 1 < args.length) timeoutMs = Number(args[++i]);
  else url = null;
}
if (!url || !Number.isFinite(timeoutMs)) {
  process.stderr.write('usage: node core_https.js --url https://HOST:PORT/PATH [--timeout-ms 5000]\n');
  process.exit(64);
}

function emit(ok, status, detail) {
  process.stdout.write(JSON.stringify({ runtime: 'node-core', ok, status, detail }) + '\n');
  process.exit(ok ? 0 : 1);
}

const request = https.get(url, { timeout: timeoutMs }, (response) => {
  response.resume();
  emit(true, 'HTTP_' + response.statusCode, 'answered ' + response.statusCode + ' (Node ' +
    process.version + ')');
});
request.on('timeout', () => request.destroy(new Error('timed out')));
request.on('error', (e) => emit(false, e.code || 'ERROR', e.message + ' (Node ' + process.version + ')'));
