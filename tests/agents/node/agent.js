// node-agent: a health-check agent written with @grpc/grpc-js, the way a Node agent dials its
// management plane. Proxy settings and CAs come only from where Node and grpc-js read them
// (grpc_proxy/https_proxy/http_proxy and no_grpc_proxy/no_proxy in grpc-js;
// GRPC_DEFAULT_SSL_ROOTS_FILE_PATH in grpc-js, NODE_EXTRA_CA_CERTS in Node's TLS;
// NODE_USE_ENV_PROXY in Node's own http and fetch, where Node supports it): nothing here knows
// about proxies.
//
//   node agent.js --target HOST:PORT [--server-name NAME] [--timeout-ms 5000]
//
// Prints one JSON line {runtime, ok, status, detail} and exits 0 when gRPC works end to end
// (OK, UNIMPLEMENTED, UNAUTHENTICATED or PERMISSION_DENIED), 1 when it does not, 64 on a
// usage error.
'use strict';

const grpc = require('@grpc/grpc-js');

function usage() {
  process.stderr.write(
    'usage: node agent.js --target HOST:PORT [--server-name NAME] [--timeout-ms 5000]\n');
  process.exit(64);
}

const args = process.argv.slice(2);
let target = null;
let serverName = null;
let timeoutMs = 5000;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--target' && i + 1 < args.length) target = args[++i];
  else if (args[i] === '--server-name' && i + 1 < args.length) serverName = args[++i];
  else if (args[i] === '--timeout-ms' && i + 1 < args.length) timeoutMs = Number(args[++i]);
  else usage();
}
if (!target || !Number.isFinite(timeoutMs)) usage();

const codeNames = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));
const worksCodes = new Set([grpc.status.OK, grpc.status.UNIMPLEMENTED,
  grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]);

function emit(ok, status, detail) {
  process.stdout.write(JSON.stringify({ runtime: 'node', ok, status, detail }) + '\n');
  process.exit(ok ? 0 : 1);
}

const options = {};
if (serverName) {
  options['grpc.ssl_target_name_override'] = serverName;
  options['grpc.default_authority'] = serverName;
}
// createSsl() without roots: grpc-js's default roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH when
// set, else Node's, which NODE_EXTRA_CA_CERTS extends).
const client = new grpc.Client(target, grpc.credentials.createSsl(), options);
// grpc.health.v1.HealthCheckRequest{service: ""} is zero bytes; HealthCheckResponse is
// field 1 (status, varint): 0x08 <value>.
client.makeUnaryRequest(
  '/grpc.health.v1.Health/Check',
  (request) => request,
  (bytes) => bytes,
  Buffer.alloc(0),
  { deadline: new Date(Date.now() + timeoutMs) },
  (err, response) => {
    client.close();
    if (err) {
      emit(worksCodes.has(err.code), codeNames[err.code] || String(err.code), err.details || '');
    } else {
      const serving = response.length >= 2 && response[0] === 0x08 ? response[1] : 0;
      emit(true, 'OK', 'serving status ' + (serving === 1 ? 'SERVING' : String(serving)));
    }
  });
