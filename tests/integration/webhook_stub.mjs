// Loopback webhook receiver for the notification tests: records every POST and checks its
// Standard Webhooks signature with Node's own crypto, independently of imgorigin's code.
//
//   node webhook_stub.mjs --secret whsec_… [--secret whsec_…] [--host 127.0.0.1]
//
// Prints {"http": port} once listening; exits when stdin closes or on SIGTERM. POST paths (the
// first two may follow any prefix, e.g. /token/status/503):
//   …/status/CODE  that status (503 adds Retry-After: 7), body "status CODE"
//   …/redirect     302 to /status/200
//   /stall         never answers
//   /big           200 with a 1 MiB body
//   anything else  200 "ok"
// GET /__stats returns {"requests": [...]}: per POST its path, the three webhook-* headers,
// content-type, body, and `matched`: the indexes of the --secret values (in order) whose
// signature is among the v1 entries of webhook-signature, compared in constant time.
import http from 'node:http';
import crypto from 'node:crypto';

const args = process.argv.slice(2);
const host = args.includes('--host') ? args[args.indexOf('--host') + 1] : '127.0.0.1';
const keys = [];
args.forEach((a, i) => {
  if (a === '--secret') keys.push(Buffer.from(args[i + 1].replace(/^whsec_/, ''), 'base64'));
});
const requests = [];
const stalled = [];

function matchedSecrets(id, timestamp, body, header) {
  const given = (header || '').split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  const content = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]);
  const matched = [];
  keys.forEach((key, index) => {
    const expected = crypto.createHmac('sha256', key).update(content).digest();
    if (given.some((g) => g.length === expected.length && crypto.timingSafeEqual(g, expected))) {
      matched.push(index);
    }
  });
  return matched;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const path = new URL(req.url, 'http://stub').pathname;
    if (req.method === 'GET' && path === '/__stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ requests }));
      return;
    }
    const body = Buffer.concat(chunks);
    const id = req.headers['webhook-id'];
    const timestamp = req.headers['webhook-timestamp'];
    requests.push({
      method: req.method,
      path,
      id,
      timestamp,
      signature: req.headers['webhook-signature'],
      contentType: req.headers['content-type'],
      body: body.toString('utf8'),
      matched: matchedSecrets(id, timestamp, body, req.headers['webhook-signature']),
    });
    const status = /\/status\/(\d{3})$/.exec(path);
    if (status) {
      const code = Number(status[1]);
      res.writeHead(code, code === 503 ? { 'retry-after': '7' } : {});
      res.end(`status ${code}`);
    } else if (path.endsWith('/redirect')) {
      res.writeHead(302, { location: '/status/200' });
      res.end();
    } else if (path === '/stall') {
      stalled.push(res);
    } else if (path === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(Buffer.alloc(1 << 20, 'x'));
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    }
  });
});

server.listen(0, host, () => {
  process.stdout.write(JSON.stringify({ http: server.address().port }) + '\n');
});
const stop = () => {
  for (const res of stalled) res.destroy();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
