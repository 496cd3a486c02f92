// Test SQS and SNS for the integration tests: fauxqs (an SQS/SNS emulator speaking the AWS JSON
// protocol for SQS and the query protocol for SNS) behind a proxy that checks every request's
// SigV4 signature with AWS's own signer (@smithy/signature-v4), as SQS and SNS do: fauxqs checks
// none. Both listen on 127.0.0.1 only: fauxqs's CLI and startFauxqs() bind every interface, so
// its app is built with buildApp() and listened on loopback here.
//
//   node fauxqs_stub.mjs [--key AKID:SECRET]… [--region R]
//
// Prints one JSON line {"sqs": port} once ready (SQS and SNS share the port, as on fauxqs);
// exits when stdin closes or on SIGTERM.
//
// The proxy passes the Host header on, so the queue URLs fauxqs builds from it point at the
// proxy. Refusals, as AWS words them: no or a malformed Authorization → 403
// MissingAuthenticationToken, an unknown key → 403 UnrecognizedClientException (SQS) /
// InvalidClientTokenId (SNS), a wrong signature, service or region → 403 SignatureDoesNotMatch.
// Queue names starting with "throttled-" are answered 400 ThrottlingException (SQS's status
// for it) once per action and queue; GET /__stats counts requests per action, refusals by code
// and throttled answers.
import http from 'node:http';
import { buildApp } from 'fauxqs';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const region = opt('--region', 'us-east-1');
const secrets = new Map();
for (const pair of args.flatMap((a, i) => (a === '--key' ? [args[i + 1]] : []))) {
  const [id, secret] = pair.split(':');
  secrets.set(id, secret);
}
const stats = { requests: 0, rejected: 0, rejectedCodes: {}, throttled: 0, actions: {} };
const bump = (table, key) => { table[key] = (table[key] || 0) + 1; };

const readAll = (stream) => new Promise((resolve, reject) => {
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('end', () => resolve(Buffer.concat(chunks)));
  stream.on('error', reject);
});

const isSqs = (req) => String(req.headers['content-type'] || '').includes('x-amz-json-1.0');

function refuse(req, res, status, code, message) {
  stats.rejected++;
  bump(stats.rejectedCodes, code);
  if (isSqs(req)) {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }));
    return;
  }
  res.writeHead(status, { 'content-type': 'text/xml' });
  res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error></ErrorResponse>`);
}

function amzDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text || '');
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : null;
}

// Recomputes the signature; returns [status, code, message] or null.
async function verify(req, body) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(req.headers.authorization || '');
  if (!m) return [403, 'MissingAuthenticationToken', 'Request is missing Authentication Token'];
  const [, keyId, , scopeRegion, service, signedList, signature] = m;
  const secret = secrets.get(keyId);
  if (secret === undefined) {
    return [403, isSqs(req) ? 'UnrecognizedClientException' : 'InvalidClientTokenId',
      'The security token included in the request is invalid.'];
  }
  const date = amzDate(req.headers['x-amz-date']);
  if (!date || Math.abs(Date.now() - date.getTime()) > 15 * 60 * 1000) {
    return [403, 'SignatureDoesNotMatch', 'Signature expired or X-Amz-Date missing'];
  }
  const signedHeaders = signedList.split(';');
  const headers = {};
  for (const name of signedHeaders) {
    if (!(name in req.headers)) return [403, 'SignatureDoesNotMatch', `signed header ${name} is missing`];
    headers[name] = req.headers[name];
  }
  const wanted = isSqs(req) ? 'sqs' : 'sns';
  const signer = new SignatureV4({
    credentials: { accessKeyId: keyId, secretAccessKey: secret },
    region, service: wanted, sha256: Sha256, applyChecksum: false,
  });
  const [path, query = ''] = req.url.split('?');
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: '127.0.0.1', path, query: Object.fromEntries(new URLSearchParams(query)), headers, body },
    { signingDate: date, signableHeaders: new Set(signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization)[1];
  if (scopeRegion !== region || service !== wanted || expected !== signature) {
    return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
  }
  return null;
}

// "throttled-" queues: the first call of each action on each is refused as throttled.
const throttledOnce = new Set();
function throttle(req, body) {
  if (!isSqs(req)) return false;
  let doc = {};
  try { doc = JSON.parse(body.toString() || '{}'); } catch { return false; }
  const queue = String(doc.QueueUrl || doc.QueueName || '').split('/').pop();
  const key = `${req.headers['x-amz-target']} ${queue}`;
  if (!queue.startsWith('throttled-') || throttledOnce.has(key)) return false;
  throttledOnce.add(key);
  stats.throttled++;
  return true;
}

const app = buildApp({ logger: false });
await app.listen({ port: 0, host: '127.0.0.1' });
const backendPort = app.server.address().port;

const proxy = http.createServer(async (req, res) => {
  if (req.method === 'GET' && req.url === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  const body = await readAll(req);
  stats.requests++;
  bump(stats.actions, String(req.headers['x-amz-target'] || 'query'));
  const refusal = await verify(req, body);
  if (refusal) return refuse(req, res, ...refusal);
  if (throttle(req, body)) return refuse(req, res, 400, 'ThrottlingException', 'Rate exceeded');
  const headers = { ...req.headers, 'content-length': String(body.length) };
  const forward = http.request({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers }, (backend) => {
    res.writeHead(backend.statusCode, backend.headers);
    backend.pipe(res);
  });
  forward.on('error', () => refuse(req, res, 500, 'InternalFailure', 'fauxqs failed'));
  forward.end(body);
});
const port = await new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve(proxy.address().port)));
process.stdout.write(JSON.stringify({ sqs: port }) + '\n');

const stop = () => process.exit(0);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
