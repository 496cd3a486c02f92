// Test S3 for the integration tests: s3rver (which speaks S3 but does not check SigV4) behind a
// proxy that verifies every request's signature with AWS's own signer (@smithy/signature-v4),
// plus loopback stubs of the AWS credential endpoints (ECS/EKS container endpoint, IMDSv2).
//
//   node s3_stub.mjs --dir DATA --seed FIXTURES [--key AKID:SECRET]… [--region R]
//                    [--container-token T] [--cred-ttl SECONDS]
//
// FIXTURES/<bucket>/<key…> files are uploaded before serving. Prints one JSON line
// {"s3": port, "creds": port} once ready; exits when stdin closes or on SIGTERM.
//
// What the proxy adds to s3rver:
// - SigV4 check like S3's: canonical URI = each path segment decoded and re-encoded (RFC 3986),
//   canonical query from the decoded parameters, the headers the client listed as signed, the
//   x-amz-content-sha256 payload hash, and x-amz-security-token for temporary credentials.
//   Mismatch → 403 SignatureDoesNotMatch, unknown key → 403 InvalidAccessKeyId.
// - Presigned URLs (X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders, -Signature and
//   -Security-Token in the query, UNSIGNED-PAYLOAD), recomputed with the same signer's presign():
//   a forged signature → 403 SignatureDoesNotMatch, an expired URL → 403 AccessDenied, an expiry
//   outside 1 s .. 7 days → 403 AuthorizationQueryParametersError.
// - Multipart uploads as S3 checks them. s3rver 3.7.1 creates, stores parts and completes, but
//   has no AbortMultipartUpload and checks nothing at completion; the proxy tracks each upload,
//   answers NoSuchUpload for unknown ids, refuses a completion whose parts are out of order
//   (InvalidPartOrder), unknown or with another ETag (InvalidPart) or under 5 MiB but the last
//   (EntityTooSmall), and implements the abort (removing the parts from s3rver's directory).
// - Server-side encryption headers, which s3rver ignores: checked as S3 does (AES256 or aws:kms,
//   a KMS key id only with aws:kms), remembered per object and answered on PUT, HEAD, GET and
//   multipart creation/completion.
// - Versioning, which s3rver lacks: GET key?versionId=V (signed over the query) is served from the
//   object FIXTURES/<bucket>/.versions/V/<key>.
// - Failure modes by key prefix: "stall/" never answers; "flaky/" answers 503 SlowDown twice, then
//   the object; "throttle/" answers 429 once; "failpart/" answers every UploadPart from part 2 on
//   with 500 InternalError.
// - Keys are literal, as in S3: a "." or ".." key segment is kept on s3rver's disk as "%2E" or
//   "%2E%2E" (s3rver would resolve it as a file path, into another key or bucket). Fixtures for
//   such keys are saved under that name: FIXTURES/media/dir/%2E%2E/x.jpg is key "dir/../x.jpg".
// - ListObjectsV2 (GET /bucket?list-type=2) as S3 answers it. s3rver 3.7.1 lists keys in the
//   order of its directory walk, which is not S3's UTF-8 binary order ("ab-x" before "ab"), so its
//   continuation tokens (the last key of a page) skip or repeat keys; and it ignores
//   encoding-type=url. The proxy asks s3rver for every key under the prefix (one ListObjects
//   page of up to 1000: more is a 500, enough for tests), orders them, applies start-after,
//   continuation-token (its own: base64 of the last key sent) and max-keys, and writes the answer
//   itself: keys XML-escaped, or with encoding-type=url percent-encoded as S3 does ("+" for a
//   space, "/" kept) and <EncodingType>url</EncodingType> said. The .versions/ store of the
//   versioning below is not listed. Buckets are the FIXTURES directories (an empty one is an
//   empty bucket); any other is 404 NoSuchBucket.
// - User metadata: x-amz-meta-* headers of PutObject and CreateMultipartUpload are kept and
//   answered by s3rver itself on HEAD and GET.
// - GET /__stats: JSON of what was asked (per object, per "METHOD bucket/key", per access key,
//   rejections and their codes, presigned requests, multipart counters and open uploads).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import S3rver from 's3rver';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const optAll = (name) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));

const region = opt('--region', 'us-east-1');
const containerToken = opt('--container-token', 'container-secret-token');
const credTtl = Number(opt('--cred-ttl', '3600'));
const secrets = new Map();  // access key id → {secret, token}
for (const pair of optAll('--key')) {
  const [id, secret] = pair.split(':');
  secrets.set(id, { secret, token: '' });
}

const dataDir = opt('--dir');
const stats = {
  objects: {}, requests: {}, accessKeys: {}, rejected: 0, rejectedCodes: {}, presigned: 0,
  multipart: { created: 0, parts: 0, completed: 0, aborted: 0 },
  container: 0, imdsToken: 0, imdsRole: 0, imdsCreds: 0,
};
const bump = (table, key) => { table[key] = (table[key] || 0) + 1; };

// RFC 3986 encoding, as S3 canonicalises each path segment and query component.
const uriEscape = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

// A key segment as s3rver keeps it: dot segments spelled out so its file paths stay literal.
const backendSegment = (seg) => (seg === '.' || seg === '..' ? seg.replaceAll('.', '%2E') : seg);

function s3Error(res, status, code, message) {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}

function parseAuthorization(header) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(header || '');
  if (!m) return null;
  return { accessKeyId: m[1], region: m[3], service: m[4], signedHeaders: m[5].split(';'), signature: m[6] };
}

function amzDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text || '');
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

const parseQuery = (rawQuery) => {
  const query = {};
  for (const part of rawQuery ? rawQuery.split('&') : []) {
    const eq = part.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    query[k] = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
  }
  return query;
};

const canonicalUri = (rawPath) => rawPath.split('/').map((seg) => uriEscape(decodeURIComponent(seg))).join('/');

const PRESIGN_PARAMS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires',
  'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Security-Token'];

// A body the signer cannot hash: its presign() then signs UNSIGNED-PAYLOAD, as S3 does for
// presigned URLs.
const UNSIGNED_BODY = {};

// Recomputes a presigned URL's signature; returns [code, message] or null.
async function verifyPresigned(req, rawPath, query) {
  if (query['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256') {
    return ['AuthorizationQueryParametersError', 'X-Amz-Algorithm must be AWS4-HMAC-SHA256'];
  }
  const cred = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(query['X-Amz-Credential'] || '');
  const date = amzDate(query['X-Amz-Date']);
  const expires = /^\d+$/.test(query['X-Amz-Expires'] || '') ? Number(query['X-Amz-Expires']) : NaN;
  const signedHeaders = (query['X-Amz-SignedHeaders'] || '').split(';');
  const signature = query['X-Amz-Signature'] || '';
  if (!cred || !date || !Number.isInteger(expires) || !signedHeaders.includes('host') ||
      !/^[0-9a-f]{64}$/.test(signature)) {
    return ['AuthorizationQueryParametersError', 'malformed presigned query parameters'];
  }
  if (expires < 1 || expires > 604800) {
    return ['AuthorizationQueryParametersError', 'X-Amz-Expires must be between 1 and 604800 seconds'];
  }
  const creds = secrets.get(cred[1]);
  if (!creds) return ['InvalidAccessKeyId', 'unknown access key'];
  const token = query['X-Amz-Security-Token'];
  if ((creds.token || token !== undefined) && token !== creds.token) {
    return ['InvalidToken', 'security token does not match the access key'];
  }
  const now = Date.now();
  if (now > date.getTime() + expires * 1000) return ['AccessDenied', 'Request has expired'];
  if (date.getTime() > now + 15 * 60 * 1000) return ['AccessDenied', 'Request is not yet valid'];
  if (cred[2] !== query['X-Amz-Date'].slice(0, 8) || cred[3] !== region || cred[4] !== 's3') {
    return ['AuthorizationQueryParametersError', 'credential scope does not match'];
  }
  const headers = {};
  for (const name of signedHeaders) {
    if (!(name in req.headers)) return ['SignatureDoesNotMatch', `signed header ${name} is missing`];
    headers[name] = req.headers[name];
  }
  const rest = { ...query };
  for (const name of PRESIGN_PARAMS) delete rest[name];
  const signer = new SignatureV4({
    credentials: { accessKeyId: cred[1], secretAccessKey: creds.secret, sessionToken: token },
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const names = new Set(signedHeaders);
  const presigned = await signer.presign(
    { method: req.method, protocol: 'http:', hostname: '127.0.0.1', path: canonicalUri(rawPath), query: rest, headers, body: UNSIGNED_BODY },
    { signingDate: date, expiresIn: expires, signableHeaders: names, unhoistableHeaders: names },
  );
  if (presigned.query['X-Amz-SignedHeaders'] !== query['X-Amz-SignedHeaders'] ||
      presigned.query['X-Amz-Signature'] !== signature) {
    return ['SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
  }
  stats.presigned++;
  bump(stats.accessKeys, cred[1]);
  return null;
}

// Recomputes the request's signature with the key's secret; returns [code, message] or null.
async function verify(req, rawPath, rawQuery) {
  const query = parseQuery(rawQuery);
  if ('X-Amz-Algorithm' in query) return verifyPresigned(req, rawPath, query);
  const auth = parseAuthorization(req.headers.authorization);
  if (!auth) return ['AccessDenied', 'missing or malformed Authorization'];
  const creds = secrets.get(auth.accessKeyId);
  if (!creds) return ['InvalidAccessKeyId', 'unknown access key'];
  if (creds.token && req.headers['x-amz-security-token'] !== creds.token) {
    return ['InvalidToken', 'security token does not match the access key'];
  }
  if (!('x-amz-content-sha256' in req.headers)) return ['InvalidRequest', 'missing x-amz-content-sha256'];
  const date = amzDate(req.headers['x-amz-date']);
  if (!date || Math.abs(Date.now() - date.getTime()) > 15 * 60 * 1000) {
    return ['RequestTimeTooSkewed', 'x-amz-date missing or skewed'];
  }
  const canonicalPath = canonicalUri(rawPath);
  const headers = {};
  for (const name of auth.signedHeaders) {
    if (!(name in req.headers)) return ['SignatureDoesNotMatch', `signed header ${name} is missing`];
    headers[name] = req.headers[name];
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: creds.secret },
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,  // S3 does not double-encode; canonicalPath is already encoded once
    applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: '127.0.0.1', path: canonicalPath, query, headers },
    { signingDate: date, signableHeaders: new Set(auth.signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization)[1];
  if (auth.region !== region || auth.service !== 's3' || expected !== auth.signature) {
    return ['SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
  }
  bump(stats.accessKeys, auth.accessKeyId);
  return null;
}

const flaky = {};
const stalled = [];

async function handleS3(req, res, backendPort) {
  const url = req.url;
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  if (rawPath === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...stats, uploadsOpen: uploads.size }));
    return;
  }
  const failure = await verify(req, rawPath, rawQuery);
  if (failure) {
    stats.rejected++;
    bump(stats.rejectedCodes, failure[0]);
    drain(req, () => s3Error(res, 403, failure[0], failure[1]));
    return;
  }
  const segments = rawPath.split('/').slice(1).map(decodeURIComponent);
  const bucket = segments[0];
  let key = segments.slice(1).join('/');
  const query = parseQuery(rawQuery);
  const versionId = query.versionId || '';
  bump(stats.objects, `${bucket}/${key}` + (versionId ? `?versionId=${versionId}` : ''));
  bump(stats.requests, `${req.method} ${bucket}/${key}`);
  if (key.startsWith('stall/')) {
    stalled.push(res);  // never answered; closed when the stub exits
    return;
  }
  if (key.startsWith('flaky/') && (flaky[key] = (flaky[key] || 0) + 1) <= 2) {
    s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.');
    return;
  }
  if (key.startsWith('throttle/') && (flaky[key] = (flaky[key] || 0) + 1) <= 1) {
    s3Error(res, 429, 'TooManyRequests', 'Too many requests.');
    return;
  }
  if (key === '' && req.method === 'GET') {
    drain(req, () => handleList(res, backendPort, bucket, query).catch((e) => s3Error(res, 500, 'InternalError', String(e))));
    return;
  }
  const object = `${bucket}/${key}`;
  if ('uploads' in query || 'uploadId' in query) {
    await handleMultipart(req, res, backendPort, { bucket, key, object, query });
    return;
  }
  let sse = null;
  if (req.method === 'PUT') {
    sse = encryptionOf(req);
    if (sse.error) return drain(req, () => s3Error(res, 400, ...sse.error));
  }
  if (versionId) key = `.versions/${versionId}/${key}`;
  forward(req, res, backendPort, { bucket, key }, (backend) => {
    if (backend.statusCode === 404 && versionId) {
      backend.resume();
      s3Error(res, 404, 'NoSuchVersion', 'The specified version does not exist.');
      return;
    }
    const ok = backend.statusCode >= 200 && backend.statusCode < 300;
    if (ok && req.method === 'PUT') encryption.set(object, sse.headers);
    if (ok && req.method === 'DELETE') encryption.delete(object);
    const extra = ok && !versionId && req.method !== 'DELETE' ? encryption.get(object) : null;
    res.writeHead(backend.statusCode, { ...backend.headers, ...extra });
    backend.pipe(res);
  });
}

// Sends the request on to s3rver (without the signature, which s3rver would check again and
// fail) and hands its answer to onResponse. `query` is the sub-resource s3rver is to see;
// `body` replaces the request's own when the proxy has already read it.
function forward(req, res, backendPort, { bucket, key, query = '', body = null }, onResponse) {
  const headers = { ...req.headers };
  delete headers.authorization;
  delete headers.expect;
  headers.host = `127.0.0.1:${backendPort}`;
  if (body) headers['content-length'] = String(body.length);
  const request = http.request({
    host: '127.0.0.1', port: backendPort, method: req.method, headers,
    path: '/' + [bucket, ...key.split('/').map(backendSegment)].map(uriEscape).join('/') + query,
  }, onResponse);
  request.on('error', () => s3Error(res, 500, 'InternalError', 'backend failed'));
  if (body) request.end(body); else req.pipe(request);
}

const readAll = (stream) => new Promise((resolve, reject) => {
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('end', () => resolve(Buffer.concat(chunks)));
  stream.on('error', reject);
});

// Answers only after the request body is read, so the client sees the answer, not a reset.
function drain(req, answer) {
  req.resume();
  req.on('end', answer);
}

// Server-side encryption asked for by a PUT or a multipart creation, checked as S3 does.
const encryption = new Map();  // "bucket/key" → response headers naming the encryption
function encryptionOf(req) {
  const algorithm = req.headers['x-amz-server-side-encryption'];
  const kmsKey = req.headers['x-amz-server-side-encryption-aws-kms-key-id'];
  if (algorithm === undefined && kmsKey === undefined) return { headers: {} };
  if (algorithm !== 'AES256' && algorithm !== 'aws:kms') {
    return { error: ['InvalidArgument', 'The encryption method specified is not supported'] };
  }
  if (kmsKey !== undefined && algorithm !== 'aws:kms') {
    return { error: ['InvalidArgument', 'x-amz-server-side-encryption-aws-kms-key-id needs x-amz-server-side-encryption: aws:kms'] };
  }
  const headers = { 'x-amz-server-side-encryption': algorithm };
  if (algorithm === 'aws:kms') {
    headers['x-amz-server-side-encryption-aws-kms-key-id'] = kmsKey || `arn:aws:kms:${region}:000000000000:alias/aws/s3`;
  }
  return { headers };
}

const MIN_PART = 5 * 1024 * 1024;
const uploads = new Map();  // UploadId → { object, sse, parts: Map(number → { etag, size }) }
const unquote = (etag) => String(etag || '').replace(/&quot;|&#34;|"/g, '');

async function handleMultipart(req, res, backendPort, { bucket, key, object, query }) {
  const sendXml = (status, headers, body) => {
    res.writeHead(status, { 'content-type': 'application/xml', ...headers });
    res.end(body);
  };
  if (req.method === 'POST' && 'uploads' in query) {  // CreateMultipartUpload
    const sse = encryptionOf(req);
    if (sse.error) return drain(req, () => s3Error(res, 400, ...sse.error));
    const body = await readAll(req);
    forward(req, res, backendPort, { bucket, key, query: '?uploads', body }, async (backend) => {
      const answer = (await readAll(backend)).toString();
      const id = /<UploadId>([^<]+)<\/UploadId>/.exec(answer);
      if (backend.statusCode === 200 && id) {
        uploads.set(id[1], { object, sse: sse.headers, parts: new Map() });
        stats.multipart.created++;
      }
      sendXml(backend.statusCode, backend.statusCode === 200 ? sse.headers : {}, answer);
    });
    return;
  }
  const uploadId = query.uploadId || '';
  const upload = uploads.get(uploadId);
  if (!upload || upload.object !== object) {
    return drain(req, () => s3Error(res, 404, 'NoSuchUpload', 'The specified upload does not exist.'));
  }
  if (req.method === 'PUT') {  // UploadPart
    const number = Number(query.partNumber);
    if (!Number.isInteger(number) || number < 1 || number > 10000) {
      return drain(req, () => s3Error(res, 400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000'));
    }
    if (key.startsWith('failpart/') && number >= 2) {
      return drain(req, () => s3Error(res, 500, 'InternalError', 'We encountered an internal error.'));
    }
    let size = 0;
    req.on('data', (chunk) => { size += chunk.length; });
    const partQuery = `?partNumber=${number}&uploadId=${uriEscape(uploadId)}`;
    forward(req, res, backendPort, { bucket, key, query: partQuery }, (backend) => {
      if (backend.statusCode === 200) {
        upload.parts.set(number, { etag: unquote(backend.headers.etag), size });
        stats.multipart.parts++;
      }
      res.writeHead(backend.statusCode, backend.headers);
      backend.pipe(res);
    });
    return;
  }
  if (req.method === 'POST') {  // CompleteMultipartUpload
    const body = await readAll(req);
    const listed = [...body.toString().matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
      number: Number((/<PartNumber>(\d+)<\/PartNumber>/.exec(m[1]) || [])[1]),
      etag: unquote((/<ETag>([^<]*)<\/ETag>/.exec(m[1]) || [])[1]),
    }));
    if (listed.length === 0) return s3Error(res, 400, 'MalformedXML', 'The XML you provided was not well-formed.');
    for (let i = 0; i < listed.length; i++) {
      const part = upload.parts.get(listed[i].number);
      if (i > 0 && listed[i].number <= listed[i - 1].number) {
        return s3Error(res, 400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
      }
      if (!part || part.etag !== listed[i].etag) {
        return s3Error(res, 400, 'InvalidPart', 'One or more of the specified parts could not be found.');
      }
      if (i < listed.length - 1 && part.size < MIN_PART) {
        return s3Error(res, 400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.');
      }
    }
    forward(req, res, backendPort, { bucket, key, query: `?uploadId=${uriEscape(uploadId)}`, body }, async (backend) => {
      const answer = await readAll(backend);
      if (backend.statusCode === 200) {
        uploads.delete(uploadId);
        encryption.set(object, upload.sse);
        stats.multipart.completed++;
      }
      sendXml(backend.statusCode, backend.statusCode === 200 ? upload.sse : {}, answer);
    });
    return;
  }
  if (req.method === 'DELETE') {  // AbortMultipartUpload: s3rver keeps parts in <bucket>/._S3rver_uploads/<id>
    fs.rmSync(path.join(dataDir, bucket, '._S3rver_uploads', uploadId), { recursive: true, force: true });
    uploads.delete(uploadId);
    stats.multipart.aborted++;
    res.writeHead(204);
    res.end();
    return;
  }
  drain(req, () => s3Error(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.'));
}

// Each call hands out new temporary credentials that the verifier accepts from then on.
const xmlEscape = (s) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);
const xmlUnescape = (s) => s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e) => {
  if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
  return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e];
});
// S3's encoding-type=url: RFC 3986 escapes, "+" for a space, "/" kept.
const urlEncodeKey = (s) => uriEscape(s).replace(/%2F/g, '/').replace(/%20/g, '+');
const byteOrder = (a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key));
// s3rver's name for a key segment back to the key's ("%2E%2E" → "..").
const keyFromBackend = (key) => key.split('/').map((seg) => (/^(%2E){1,2}$/.test(seg) ? seg.replaceAll('%2E', '.') : seg)).join('/');

// Every object of `bucket` under `prefix`, from s3rver, in S3's order.
async function listAll(backendPort, bucket, prefix) {
  const answer = await new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1', port: backendPort, method: 'GET',
      path: `/${uriEscape(bucket)}?max-keys=1000&prefix=${uriEscape(prefix)}`,
    }, (backend) => readAll(backend).then((body) => resolve({ status: backend.statusCode, body: body.toString() }), reject));
    request.on('error', reject);
    request.end();
  });
  if (answer.status !== 200) return { status: answer.status, body: answer.body };
  if (/<IsTruncated>true<\/IsTruncated>/.test(answer.body)) throw new Error('the stub lists at most 1000 keys');
  const text = (entry, tag) => xmlUnescape((new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(entry) || [])[1] || '');
  const objects = [...answer.body.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)].map((m) => ({
    key: keyFromBackend(text(m[1], 'Key')),
    lastModified: text(m[1], 'LastModified'),
    etag: text(m[1], 'ETag'),
    size: text(m[1], 'Size'),
  })).filter((o) => !o.key.startsWith('.versions/'));
  return { objects: objects.sort(byteOrder) };
}

async function handleList(res, backendPort, bucket, query) {
  if (query['list-type'] !== '2') return s3Error(res, 400, 'InvalidArgument', 'the stub answers ListObjectsV2 only');
  const maxKeys = query['max-keys'] === undefined ? 1000 : Number(query['max-keys']);
  if (!Number.isInteger(maxKeys) || maxKeys < 0) return s3Error(res, 400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range');
  const prefix = query.prefix || '';
  let after = query['start-after'] || '';
  if ('continuation-token' in query) {
    const decoded = Buffer.from(query['continuation-token'], 'base64').toString();
    if (!decoded.startsWith('key:')) return s3Error(res, 400, 'InvalidArgument', 'The continuation token provided is incorrect');
    after = decoded.slice(4);
  }
  const listed = await listAll(backendPort, bucket, prefix);
  if (!listed.objects) {
    res.writeHead(listed.status, { 'content-type': 'application/xml' });
    return res.end(listed.body);
  }
  const remaining = listed.objects.filter((o) => !after || Buffer.compare(Buffer.from(o.key), Buffer.from(after)) > 0);
  const page = remaining.slice(0, Math.min(maxKeys, 1000));
  const truncated = page.length < remaining.length;
  const url = query['encoding-type'] === 'url';
  if (query['encoding-type'] !== undefined && !url) return s3Error(res, 400, 'InvalidArgument', 'Invalid Encoding Method specified in Request');
  const encode = (s) => (url ? urlEncodeKey(s) : xmlEscape(s));
  const element = (tag, value) => `<${tag}>${value}</${tag}>`;
  let xml = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    element('Name', bucket) + element('Prefix', encode(prefix)) +
    (query['start-after'] ? element('StartAfter', encode(query['start-after'])) : '') +
    ('continuation-token' in query ? element('ContinuationToken', xmlEscape(query['continuation-token'])) : '') +
    element('KeyCount', page.length) + element('MaxKeys', maxKeys) +
    (url ? element('EncodingType', 'url') : '') + element('IsTruncated', truncated);
  if (truncated) {
    xml += element('NextContinuationToken', Buffer.from('key:' + page[page.length - 1].key).toString('base64'));
  }
  for (const o of page) {
    xml += '<Contents>' + element('Key', encode(o.key)) + element('LastModified', o.lastModified) +
      element('ETag', xmlEscape(o.etag)) + element('Size', o.size) + element('StorageClass', 'STANDARD') + '</Contents>';
  }
  res.writeHead(200, { 'content-type': 'application/xml' });
  res.end(xml + '</ListBucketResult>');
}

let issued = 0;
function issue(kind) {
  issued++;
  const creds = {
    AccessKeyId: `ASIA${kind.toUpperCase()}${issued}`,
    SecretAccessKey: `secret-${kind}-${issued}`,
    Token: `token-${kind}-${issued}`,
    Expiration: new Date(Date.now() + credTtl * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  secrets.set(creds.AccessKeyId, { secret: creds.SecretAccessKey, token: creds.Token });
  return creds;
}

const imdsToken = 'imds-session-token';
function handleCreds(req, res) {
  const json = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.url === '/__stats') return json(200, stats);
  if (req.url === '/container') {
    stats.container++;
    if (req.headers.authorization !== containerToken) return json(401, { message: 'bad token' });
    return json(200, issue('container'));
  }
  if (req.url === '/latest/api/token' && req.method === 'PUT') {
    stats.imdsToken++;
    if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) { res.writeHead(400); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(imdsToken);
    return;
  }
  if (req.url.startsWith('/latest/meta-data/iam/security-credentials/')) {
    if (req.headers['x-aws-ec2-metadata-token'] !== imdsToken) { res.writeHead(401); res.end(); return; }
    const role = req.url.slice('/latest/meta-data/iam/security-credentials/'.length);
    if (role === '') {
      stats.imdsRole++;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('test-role');
      return;
    }
    if (role !== 'test-role') { res.writeHead(404); res.end(); return; }
    stats.imdsCreds++;
    return json(200, { Code: 'Success', Type: 'AWS-HMAC', LastUpdated: new Date().toISOString(), ...issue('imds') });
  }
  res.writeHead(404);
  res.end();
}

async function seed(root, backendPort) {
  const buckets = fs.existsSync(root) ? fs.readdirSync(root) : [];
  const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]);
  for (const bucket of buckets) {
    for (const file of walk(path.join(root, bucket))) {
      const key = path.relative(path.join(root, bucket), file).split(path.sep);
      await new Promise((resolve, reject) => {
        const put = http.request({
          host: '127.0.0.1', port: backendPort, method: 'PUT',
          path: '/' + [bucket, ...key].map(uriEscape).join('/'),
          headers: { 'content-length': fs.statSync(file).size, 'content-type': 'application/octet-stream' },
        }, (r) => {
          r.resume();
          r.on('end', () => (r.statusCode === 200 ? resolve() : reject(new Error(`seed ${key}: ${r.statusCode}`))));
        });
        put.on('error', reject);
        fs.createReadStream(file).pipe(put);
      });
    }
  }
  return buckets;
}

const seedDir = opt('--seed', '');
const buckets = seedDir && fs.existsSync(seedDir) ? fs.readdirSync(seedDir) : [];
const backend = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: dataDir,
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port: backendPort } = await backend.run();
await seed(seedDir, backendPort);

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
const s3Server = http.createServer((req, res) => {
  handleS3(req, res, backendPort).catch((e) => s3Error(res, 500, 'InternalError', String(e)));
});
const credsServer = http.createServer(handleCreds);
const s3Port = await listen(s3Server);
const credsPort = await listen(credsServer);
process.stdout.write(JSON.stringify({ s3: s3Port, creds: credsPort }) + '\n');

const stop = () => {
  for (const res of stalled) res.destroy();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
