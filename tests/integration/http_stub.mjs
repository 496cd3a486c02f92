// Loopback HTTP origin for the HTTP source tests.
//
//   node http_stub.mjs --dir FILES [--host 127.0.0.1]
//
// Prints {"http": port} once listening; exits when stdin closes or on SIGTERM. Every path is
// counted (GET /__stats returns the counts) and then answered by its query or its path:
//   ?redirect=URL        302 to URL
//   ?hops=N              302 to the same path with hops=N-1; hops=0 serves the file
//   /status/CODE         that status, empty body
//   /stall               never answers
//   /flaky/NAME          503 twice, then the file NAME
//   /chunked/NAME        the file NAME without Content-Length (chunked)
//   /NAME, /img/NAME     the file NAME from FILES
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const dir = opt('--dir');
const host = opt('--host', '127.0.0.1');
const counts = {};
const flaky = {};
const stalled = [];

function serveFile(res, name, chunked) {
  const file = path.join(dir, path.basename(name));
  if (!fs.existsSync(file)) { res.writeHead(404); res.end('no such file'); return; }
  const headers = { 'content-type': 'application/octet-stream', 'last-modified': fs.statSync(file).mtime.toUTCString() };
  if (!chunked) headers['content-length'] = fs.statSync(file).size;
  res.writeHead(200, headers);
  fs.createReadStream(file).pipe(res);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://stub');
  const p = decodeURIComponent(url.pathname);
  if (p === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(counts));
    return;
  }
  counts[p] = (counts[p] || 0) + 1;
  if (url.searchParams.has('redirect')) {
    res.writeHead(302, { location: url.searchParams.get('redirect') });
    res.end();
    return;
  }
  if (url.searchParams.has('hops') && Number(url.searchParams.get('hops')) > 0) {
    res.writeHead(302, { location: `${url.pathname}?hops=${Number(url.searchParams.get('hops')) - 1}` });
    res.end();
    return;
  }
  const status = /^\/status\/(\d{3})$/.exec(p);
  if (status) { res.writeHead(Number(status[1])); res.end(); return; }
  if (p === '/stall') { stalled.push(res); return; }
  if (p.startsWith('/flaky/') && (flaky[p] = (flaky[p] || 0) + 1) <= 2) {
    res.writeHead(503, { 'retry-after': '0' });
    res.end('try again');
    return;
  }
  if (p.startsWith('/chunked/')) return serveFile(res, p.slice(9), true);
  return serveFile(res, p.replace(/^\/(img|flaky)\//, ''), false);
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
