// start.js - s3rver (a real S3 emulator, npm) for tests/bats/s3.bats and
// bench/09-s3.sh, on 127.0.0.1 over TLS, with the SigV4 signature checked.
//
// s3rver checks V2 signatures only (its lib/middleware/authentication.js:
// "Signature version 4 calculation is unimplemented": any V4 signature
// from a known key passes). So this starter puts one koa middleware in
// front of it that recomputes the AWS Signature Version 4 of every signed
// request from the secret the way S3 does (canonical request with the
// signed headers, x-amz-content-sha256 as the payload hash; string to
// sign; HMAC chain over date/region/service) and refuses a mismatch, an
// unknown key, a missing x-amz-date or a session token that is not the
// configured one with S3's 403 error; everything else is s3rver's own.
// It also counts requests by method and Range in the log (one JSON line
// per request) so the test can tell that the download ran in parallel.
//
// Usage: node start.js CONF.json  - CONF: { dir, cert, key, bucket,
//   access_key, secret, token (optional), endpoint (service endpoint for
//   virtual-host buckets, e.g. "localhost"), portfile, log }
// Writes the port to portfile once listening. Error policy: a bad
// configuration throws (node exits non-zero); requests get S3 errors.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');

const conf = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const log = fs.openSync(conf.log, 'a');

function hmac(key, s) {
  return crypto.createHmac('sha256', key).update(s, 'utf8').digest();
}

function sha256hex(s) {
  return crypto.createHash('sha256').update(s, 'utf8').digest('hex');
}

// The query string as SigV4 canonicalises it: sorted, RFC 3986 encoded.
function canonicalQuery(search) {
  const enc = s =>
    encodeURIComponent(s).replace(/[!'()*]/g,
      c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return [...new URLSearchParams(search)]
    .map(([k, v]) => [enc(k), enc(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([k, v]) => k + '=' + v)
    .join('&');
}

// Why the request's signature is refused, or null when it is right.
function sigv4Problem(req) {
  const auth = req.headers['authorization'];
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth || '');
  if (!m) return ['AccessDenied', 'no AWS4-HMAC-SHA256 Authorization header'];
  const [, akid, day, region, service, signed, sig] = m;
  if (akid !== conf.access_key)
    return ['InvalidAccessKeyId', 'unknown access key'];
  const date = req.headers['x-amz-date'];
  if (!/^\d{8}T\d{6}Z$/.test(date || '') || date.slice(0, 8) !== day)
    return ['AccessDenied', 'x-amz-date missing or not the credential day'];
  const names = signed.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date'))
    return ['AccessDenied', 'host and x-amz-date must be signed'];
  if (conf.token !== undefined &&
      (req.headers['x-amz-security-token'] !== conf.token ||
       !names.includes('x-amz-security-token')))
    return ['InvalidToken', 'session token missing, wrong or unsigned'];
  const payload = req.headers['x-amz-content-sha256'];
  if (!payload) return ['InvalidRequest', 'x-amz-content-sha256 missing'];
  const u = new URL(req.url, 'https://x');
  const canon = [
    req.method,
    u.pathname,
    canonicalQuery(u.search),
    names.map(h => h + ':' +
      String(req.headers[h] || '').trim().replace(/\s+/g, ' ') + '\n').join(''),
    signed,
    payload,
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', date, scope, sha256hex(canon)].join('\n');
  let k = hmac('AWS4' + conf.secret, day);
  k = hmac(hmac(hmac(k, region), service), 'aws4_request');
  const want = hmac(k, sts).toString('hex');
  if (want !== sig)
    return ['SignatureDoesNotMatch', 'The request signature we calculated ' +
      'does not match the signature you provided. Check your key and ' +
      'signing method.'];
  return null;
}

// s3rver's own account registry must know the key (it only looks it up).
AWSAccount.DUMMY_ACCOUNT.createKeyPair(conf.access_key, conf.secret);

const app = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: conf.dir,
  key: fs.readFileSync(conf.key),
  cert: fs.readFileSync(conf.cert),
  serviceEndpoint: conf.endpoint || 'amazonaws.com',
  configureBuckets: [{ name: conf.bucket, configs: [] }],
});

// First in the chain: nothing reaches s3rver unless the signature holds.
app.middleware.unshift(async (ctx, next) => {
  const bad = sigv4Problem(ctx.req);
  fs.writeSync(log, JSON.stringify({
    method: ctx.method, url: ctx.url, host: ctx.host,
    range: ctx.get('range') || null, refused: bad ? bad[0] : null,
  }) + '\n');
  if (bad) {
    ctx.status = bad[0] === 'InvalidRequest' ? 400 : 403;
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' +
      bad[0] + '</Code><Message>' + bad[1] + '</Message></Error>';
    return;
  }
  await next();
});

app.run().then(addr => {
  fs.writeFileSync(conf.portfile + '.tmp', String(addr.port) + '\n');
  fs.renameSync(conf.portfile + '.tmp', conf.portfile);
});
