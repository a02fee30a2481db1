#!/usr/bin/env node
// Checks the loopback KMS test server (kms_server.js) against independent
// implementations: the AWS SDK for JavaScript v3 (@aws-sdk/client-kms,
// @aws-sdk/client-sts) and the SDK's own credential providers for web
// identity, ECS and IMDS; plus raw requests signed by a plain SigV4 signer
// written here from AWS's description (itself checked first against AWS's
// published SigV4 test suite), for headers the SDK never signs that way.
//
//   node check_kms.js --url URL --config kms_check_config.json [--phase all|tls|persist-write|persist-read] [--file F]
//
// Prints one "ok - ..." / "not ok - ..." line per check (TAP-like); exits 1
// if any check failed.
'use strict';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// No ambient AWS configuration may leak in.
for (const v of Object.keys(process.env)) if (/^AWS_/.test(v) && v !== 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED') delete process.env[v];
process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/aws-credentials';

const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const https = require('https');
const crypto = require('crypto');
const kms = require('@aws-sdk/client-kms');
const sts = require('@aws-sdk/client-sts');
const { fromContainerMetadata, fromInstanceMetadata } = require('@smithy/credential-provider-imds');
const { fromHttp } = require('@aws-sdk/credential-provider-http');
const { fromTokenFile } = require('@aws-sdk/credential-provider-web-identity');
const { NodeHttpHandler } = require('@smithy/node-http-handler');

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const URL_ = args.url;
const cfg = JSON.parse(fs.readFileSync(args.config, 'utf8'));
const phase = args.phase || 'all';
const region = cfg.region;
const arnOf = (id) => `arn:aws:kms:${region}:${cfg.account_id}:key/${id}`;
const [K1, K2, K3] = cfg.keys.map((k) => k.id);
const [MAIN, LIMITED, TEMP, EXPIRED] = cfg.credentials;
const credsOf = (c) => ({ accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key, sessionToken: c.session_token });

let failed = 0;
const ok = (name) => console.log(`ok - ${name}`);
const notOk = (name, why) => { failed++; console.log(`not ok - ${name}: ${why}`); };
async function check(name, fn) {
  try {
    const r = await fn();
    if (r === undefined || r === true) ok(name); else notOk(name, typeof r === 'string' ? r : JSON.stringify(r));
  } catch (e) {
    notOk(name, `${e.name}: ${e.message}`);
  }
}
// The call must fail with the named error, raised by the SDK as an instance
// of cls (the modeled exception class, or the service's base exception for
// errors KMS does not model), with the given HTTP status.
async function expectError(name, fn, cls, type, status, messageRe) {
  try {
    await fn();
    notOk(name, 'no error');
  } catch (e) {
    const got = `${e.constructor.name}/${e.name}/${e.$metadata && e.$metadata.httpStatusCode}: ${e.message}`;
    if (!(e instanceof cls)) return notOk(name, `not a ${cls.name}: ${got}`);
    if (e.name !== type) return notOk(name, `name ${got}`);
    if (status !== undefined && (!e.$metadata || e.$metadata.httpStatusCode !== status)) return notOk(name, `status ${got}`);
    if (messageRe && !messageRe.test(e.message)) return notOk(name, `message ${got}`);
    ok(name);
  }
}
const eq = (a, b) => (JSON.stringify(a) === JSON.stringify(b) ? true : `expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);

function kmsClient(creds, extra = {}) {
  return new kms.KMSClient({ region, endpoint: URL_, credentials: creds || credsOf(MAIN), ...extra });
}
async function control(p, body) {
  const r = await fetchRaw('POST', p, { 'content-type': 'application/json' }, JSON.stringify(body));
  if (r.status !== 200) throw new Error(`control ${p} → ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}
async function stats() { return JSON.parse((await fetchRaw('GET', '/__test/stats', {}, '')).body); }

// One HTTP request exactly as given (headers as they are, no others but
// content-length), for the raw checks.
function fetchRaw(method, p, headers, body) {
  const u = new URL(URL_);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request({ method, hostname: u.hostname, port: u.port, path: p, agent: false,
      headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---- a plain SigV4 signer (AWS General Reference, "Create a signed AWS API request")
const sha256hex = (s) => crypto.createHash('sha256').update(s).digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();
function sigv4({ method, path: p, headers, body, akid, secret, region: r, service, amzDate }) {
  const names = Object.keys(headers).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([n, v]) => [n.toLowerCase(), v]));
  const canonHeaders = names.map((n) => `${n}:${String(lower[n]).trim().replace(/\s+/g, ' ')}\n`).join('');
  const signed = names.join(';');
  const creq = [method, p, '', canonHeaders, signed, sha256hex(body)].join('\n');
  const scope = `${amzDate.slice(0, 8)}/${r}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(creq)].join('\n');
  let k = hmac(`AWS4${secret}`, amzDate.slice(0, 8));
  k = hmac(hmac(hmac(k, r), service), 'aws4_request');
  const sig = hmac(k, toSign).toString('hex');
  return { signature: sig, authorization: `AWS4-HMAC-SHA256 Credential=${akid}/${scope}, SignedHeaders=${signed}, Signature=${sig}` };
}
const amzNow = () => new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
// A KMS request signed by the plain signer over exactly `signedNames`.
function rawKms(op, payload, { cred = MAIN, signedNames, extraHeaders = {}, mutate } = {}) {
  const u = new URL(URL_);
  const body = JSON.stringify(payload);
  const amzDate = amzNow();
  const all = {
    'content-type': 'application/x-amz-json-1.1', host: u.host, 'x-amz-date': amzDate,
    'x-amz-target': `TrentService.${op}`, ...extraHeaders,
  };
  if (cred.session_token) all['x-amz-security-token'] = cred.session_token;
  const names = signedNames || Object.keys(all);
  const toSign = Object.fromEntries(names.map((n) => [n, all[n]]));
  const s = sigv4({ method: 'POST', path: '/', headers: toSign, body, akid: cred.access_key_id, secret: cred.secret_access_key, region, service: 'kms', amzDate });
  let req = { headers: { ...all, authorization: s.authorization }, body };
  if (mutate) req = mutate(req);
  return fetchRaw('POST', '/', req.headers, req.body);
}
// The exact body KMS sends: {"__type": "<namespace#>Name", "message": ...}.
const jsonErr = (r, status, type, field = 'message') => {
  let j;
  try { j = JSON.parse(r.body); } catch (e) { return `not JSON: ${r.body}`; }
  if (r.status !== status || j.__type !== type || typeof j[field] !== 'string') return `got ${r.status} ${r.body}`;
  if (r.headers['content-type'] !== 'application/x-amz-json-1.1') return `content-type ${r.headers['content-type']}`;
  if (!r.headers['x-amzn-requestid']) return 'no x-amzn-RequestId';
  return true;
};

async function kmsChecks() {
  const c = kmsClient();
  const pt = Buffer.from('a 32-byte data key, or any bytes');
  const ec = { org: 'acme', version: '1' };

  // --- Encrypt / Decrypt, every form of KeyId
  let blob;
  for (const [form, ref] of [['key id', K1], ['key ARN', arnOf(K1)], ['alias name', 'alias/orgcrypt'], ['alias ARN', `arn:aws:kms:${region}:${cfg.account_id}:alias/orgcrypt`]]) {
    await check(`Encrypt with the ${form} answers the key ARN and SYMMETRIC_DEFAULT`, async () => {
      const r = await c.send(new kms.EncryptCommand({ KeyId: ref, Plaintext: pt, EncryptionContext: ec }));
      blob = r.CiphertextBlob;
      return eq([r.KeyId, r.EncryptionAlgorithm, r.$metadata.httpStatusCode], [arnOf(K1), 'SYMMETRIC_DEFAULT', 200]);
    });
  }
  await check('Decrypt with the same EncryptionContext gives the plaintext back (KeyId = the key ARN)', async () => {
    const r = await c.send(new kms.DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { version: '1', org: 'acme' } }));
    return eq([Buffer.from(r.Plaintext).toString(), r.KeyId, r.EncryptionAlgorithm], [pt.toString(), arnOf(K1), 'SYMMETRIC_DEFAULT']);
  });
  await check('Decrypt naming the key by its alias works', async () => {
    const r = await c.send(new kms.DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ec, KeyId: 'alias/orgcrypt' }));
    return eq(Buffer.from(r.Plaintext).toString(), pt.toString());
  });
  await check('the server saw the EncryptionContext of the last Decrypt', async () => eq((await stats()).last_encryption_context, ec));
  await expectError('Decrypt with a wrong EncryptionContext: InvalidCiphertextException (400)',
    () => c.send(new kms.DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { org: 'other', version: '1' } })),
    kms.InvalidCiphertextException, 'InvalidCiphertextException', 400);
  await expectError('Decrypt without the EncryptionContext: InvalidCiphertextException',
    () => c.send(new kms.DecryptCommand({ CiphertextBlob: blob })), kms.InvalidCiphertextException, 'InvalidCiphertextException', 400);
  const tampered = Buffer.from(blob); tampered[tampered.length - 1] ^= 1;
  await expectError('Decrypt of a tampered blob: InvalidCiphertextException',
    () => c.send(new kms.DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: ec })), kms.InvalidCiphertextException, 'InvalidCiphertextException', 400);
  await expectError('Decrypt of garbage: InvalidCiphertextException',
    () => c.send(new kms.DecryptCommand({ CiphertextBlob: Buffer.from('not a KMS blob') })), kms.InvalidCiphertextException, 'InvalidCiphertextException', 400);
  await expectError('Decrypt with KeyId naming another key: IncorrectKeyException',
    () => c.send(new kms.DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ec, KeyId: 'alias/other' })), kms.IncorrectKeyException, 'IncorrectKeyException', 400);

  // --- GenerateDataKey, DescribeKey
  await check('GenerateDataKey AES_256: 32 bytes, and Decrypt of its blob gives them back', async () => {
    const g = await c.send(new kms.GenerateDataKeyCommand({ KeyId: 'alias/orgcrypt', KeySpec: 'AES_256', EncryptionContext: ec }));
    const d = await c.send(new kms.DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext: ec }));
    return eq([g.Plaintext.length, g.KeyId, Buffer.compare(Buffer.from(g.Plaintext), Buffer.from(d.Plaintext))], [32, arnOf(K1), 0]);
  });
  await check('GenerateDataKey NumberOfBytes 64', async () => {
    const g = await c.send(new kms.GenerateDataKeyCommand({ KeyId: K2, NumberOfBytes: 64 }));
    return eq([g.Plaintext.length, g.KeyId], [64, arnOf(K2)]);
  });
  await expectError('GenerateDataKey with neither KeySpec nor NumberOfBytes: ValidationException',
    () => c.send(new kms.GenerateDataKeyCommand({ KeyId: K2 })), kms.KMSServiceException, 'ValidationException', 400);
  await check('DescribeKey by alias: KeyMetadata with Arn, KeyId, KeyState, Enabled', async () => {
    const m = (await c.send(new kms.DescribeKeyCommand({ KeyId: 'alias/orgcrypt' }))).KeyMetadata;
    return eq([m.Arn, m.KeyId, m.KeyState, m.Enabled, m.KeyUsage, m.AWSAccountId, m.CreationDate instanceof Date],
      [arnOf(K1), K1, 'Enabled', true, 'ENCRYPT_DECRYPT', cfg.account_id, true]);
  });

  // --- not found, malformed input, unknown operation
  await expectError('Encrypt with an unknown key id: NotFoundException',
    () => c.send(new kms.EncryptCommand({ KeyId: '00000000-0000-0000-0000-000000000000', Plaintext: pt })), kms.NotFoundException, 'NotFoundException', 400);
  await expectError('Encrypt with an unknown alias: NotFoundException naming the alias ARN',
    () => c.send(new kms.EncryptCommand({ KeyId: 'alias/nope', Plaintext: pt })), kms.NotFoundException, 'NotFoundException', 400, /alias\/nope is not found/);
  await expectError('Encrypt with a key ARN of another region: NotFoundException',
    () => c.send(new kms.EncryptCommand({ KeyId: `arn:aws:kms:us-west-2:${cfg.account_id}:key/${K1}`, Plaintext: pt })), kms.NotFoundException, 'NotFoundException', 400);
  await expectError('Encrypt of 4097 bytes: ValidationException',
    () => c.send(new kms.EncryptCommand({ KeyId: K1, Plaintext: Buffer.alloc(4097) })), kms.KMSServiceException, 'ValidationException', 400);
  await check('Encrypt of exactly 4096 bytes works', async () => eq((await c.send(new kms.EncryptCommand({ KeyId: K1, Plaintext: Buffer.alloc(4096, 7) }))).KeyId, arnOf(K1)));
  await expectError('an operation the server does not implement (ListKeys): UnknownOperationException',
    () => c.send(new kms.ListKeysCommand({})), kms.KMSServiceException, 'UnknownOperationException', 400);

  // --- key states and aliases through the KMS API
  await check('DisableKey, then Encrypt: DisabledException; EnableKey, then Encrypt works', async () => {
    await c.send(new kms.DisableKeyCommand({ KeyId: 'alias/other' }));
    let err;
    try { await c.send(new kms.EncryptCommand({ KeyId: K2, Plaintext: pt })); } catch (e) { err = e; }
    if (!(err instanceof kms.DisabledException) || err.$metadata.httpStatusCode !== 400) return `got ${err && err.name}`;
    const m = (await c.send(new kms.DescribeKeyCommand({ KeyId: K2 }))).KeyMetadata;
    if (m.KeyState !== 'Disabled' || m.Enabled !== false) return `DescribeKey says ${m.KeyState}`;
    await c.send(new kms.EnableKeyCommand({ KeyId: K2 }));
    return eq((await c.send(new kms.EncryptCommand({ KeyId: K2, Plaintext: pt }))).KeyId, arnOf(K2));
  });
  let newKey;
  await check('CreateKey, CreateAlias: the alias encrypts under the new key', async () => {
    newKey = (await c.send(new kms.CreateKeyCommand({ Description: 'check' }))).KeyMetadata;
    await c.send(new kms.CreateAliasCommand({ AliasName: 'alias/check-new', TargetKeyId: newKey.KeyId }));
    return eq((await c.send(new kms.EncryptCommand({ KeyId: 'alias/check-new', Plaintext: pt }))).KeyId, newKey.Arn);
  });
  await expectError('CreateAlias of an existing alias: AlreadyExistsException',
    () => c.send(new kms.CreateAliasCommand({ AliasName: 'alias/check-new', TargetKeyId: K1 })), kms.AlreadyExistsException, 'AlreadyExistsException', 400);
  await check('UpdateAlias re-points the alias; Encrypt answers the other key ARN; older blobs still decrypt', async () => {
    const before = await c.send(new kms.EncryptCommand({ KeyId: 'alias/check-new', Plaintext: pt }));
    await c.send(new kms.UpdateAliasCommand({ AliasName: 'alias/check-new', TargetKeyId: K2 }));
    const after = await c.send(new kms.EncryptCommand({ KeyId: 'alias/check-new', Plaintext: pt }));
    const d = await c.send(new kms.DecryptCommand({ CiphertextBlob: before.CiphertextBlob }));
    return eq([before.KeyId, after.KeyId, d.KeyId], [newKey.Arn, arnOf(K2), newKey.Arn]);
  });
  await check('ScheduleKeyDeletion: Encrypt then fails with KMSInvalidStateException, DescribeKey says PendingDeletion', async () => {
    const s = await c.send(new kms.ScheduleKeyDeletionCommand({ KeyId: newKey.KeyId, PendingWindowInDays: 7 }));
    if (s.KeyState !== 'PendingDeletion' || !(s.DeletionDate instanceof Date)) return `got ${JSON.stringify(s)}`;
    let err;
    try { await c.send(new kms.EncryptCommand({ KeyId: newKey.Arn, Plaintext: pt })); } catch (e) { err = e; }
    if (!(err instanceof kms.KMSInvalidStateException) || err.$metadata.httpStatusCode !== 400) return `got ${err && err.name}`;
    return eq((await c.send(new kms.DescribeKeyCommand({ KeyId: newKey.KeyId }))).KeyMetadata.KeyState, 'PendingDeletion');
  });
  await check('the control API changes key state (/__test/keys), seen by KMS', async () => {
    await control('/__test/keys', { key: 'alias/other', state: 'Disabled' });
    let err;
    try { await c.send(new kms.EncryptCommand({ KeyId: K2, Plaintext: pt })); } catch (e) { err = e; }
    await control('/__test/keys', { key: 'alias/other', state: 'Enabled' });
    return err instanceof kms.DisabledException ? true : `got ${err && err.name}`;
  });

  // --- authorization
  await expectError('a credential not allowed for the key: AccessDeniedException (400)',
    () => kmsClient(credsOf(LIMITED)).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })), kms.KMSServiceException, 'AccessDeniedException', 400, /not authorized to perform: kms:Encrypt/);
  await check('the same credential may use the key it is allowed', async () =>
    eq((await kmsClient(credsOf(LIMITED)).send(new kms.EncryptCommand({ KeyId: K2, Plaintext: pt }))).KeyId, arnOf(K2)));
  await expectError('a key requiring encryption-context key "org", called without: AccessDeniedException',
    () => c.send(new kms.EncryptCommand({ KeyId: K3, Plaintext: pt, EncryptionContext: { version: '1' } })), kms.KMSServiceException, 'AccessDeniedException', 400);
  await check('... and with it, Encrypt works', async () =>
    eq((await c.send(new kms.EncryptCommand({ KeyId: K3, Plaintext: pt, EncryptionContext: ec }))).KeyId, arnOf(K3)));

  // --- SigV4 failures through the SDK
  await expectError('a wrong secret access key: InvalidSignatureException (400)',
    () => kmsClient({ accessKeyId: MAIN.access_key_id, secretAccessKey: 'wrong' }).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })),
    kms.KMSServiceException, 'InvalidSignatureException', 400, /signature we calculated does not match/);
  await expectError('an unknown access key id: UnrecognizedClientException (400)',
    () => kmsClient({ accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' }).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })),
    kms.KMSServiceException, 'UnrecognizedClientException', 400);
  await check('temporary credentials with a session token work', async () =>
    eq((await kmsClient(credsOf(TEMP)).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt }))).KeyId, arnOf(K1)));
  await expectError('temporary credentials with a wrong session token: UnrecognizedClientException',
    () => kmsClient({ ...credsOf(TEMP), sessionToken: 'wrong' }).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })),
    kms.KMSServiceException, 'UnrecognizedClientException', 400);
  await expectError('expired temporary credentials: ExpiredTokenException (400)',
    () => kmsClient(credsOf(EXPIRED)).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })),
    kms.KMSServiceException, 'ExpiredTokenException', 400);
  await expectError('a clock 10 minutes slow (no retry): InvalidSignatureException "Signature expired"',
    () => kmsClient(undefined, { systemClockOffset: -600000, maxAttempts: 1 }).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })),
    kms.KMSServiceException, 'InvalidSignatureException', 400, /^Signature expired: \d{8}T\d{6}Z is now earlier than/);
  await check('a clock 10 minutes slow, with retries: the SDK corrects its clock from the Date header and succeeds', async () => {
    const r = await kmsClient(undefined, { systemClockOffset: -600000 }).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt }));
    return eq([r.KeyId, r.$metadata.attempts], [arnOf(K1), 2]);
  });

  // --- raw requests: the signature over whatever headers are signed
  await check('the plain SigV4 signer reproduces AWS test suite get-vanilla (5fa00fa3...)', async () =>
    eq(sigv4({ method: 'GET', path: '/', headers: { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' }, body: '',
      akid: 'AKIDEXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', region: 'us-east-1', service: 'service', amzDate: '20150830T123600Z' }).signature,
    '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'));
  await check('signed over content-type;host;x-amz-date;x-amz-target only: accepted, answers JSON 1.1', async () => {
    const r = await rawKms('Encrypt', { KeyId: 'alias/orgcrypt', Plaintext: pt.toString('base64'), EncryptionContext: ec },
      { signedNames: ['content-type', 'host', 'x-amz-date', 'x-amz-target'] });
    if (r.status !== 200) return `${r.status} ${r.body}`;
    return eq([JSON.parse(r.body).KeyId, r.headers['content-type'], (await stats()).last_signed_headers],
      [arnOf(K1), 'application/x-amz-json-1.1', 'content-type;host;x-amz-date;x-amz-target']);
  });
  await check('signed with the session token and extra headers (user-agent, x-oc-extra): accepted', async () => {
    const r = await rawKms('DescribeKey', { KeyId: K1 }, { cred: TEMP, extraHeaders: { 'user-agent': 'orgcrypt/check', 'x-oc-extra': '  a   b ' } });
    if (r.status !== 200) return `${r.status} ${r.body}`;
    return eq((await stats()).last_signed_headers, 'content-type;host;user-agent;x-amz-date;x-amz-security-token;x-amz-target;x-oc-extra');
  });
  await check('the session token sent but not signed: accepted (it is checked, not signed)', async () => {
    const r = await rawKms('DescribeKey', { KeyId: K1 }, { cred: TEMP, signedNames: ['content-type', 'host', 'x-amz-date', 'x-amz-target'] });
    return r.status === 200 ? true : `${r.status} ${r.body}`;
  });
  const before = (await stats()).signature_failures;
  await check('a tampered signature is refused: 400 InvalidSignatureException', async () => jsonErr(
    await rawKms('Encrypt', { KeyId: K1, Plaintext: 'aGVsbG8=' }, { mutate: (q) => ({ ...q, headers: { ...q.headers, authorization: q.headers.authorization.replace(/.$/, (ch) => (ch === '0' ? '1' : '0')) } }) }),
    400, 'com.amazon.coral.service#InvalidSignatureException'));
  await check('a body changed after signing is refused: InvalidSignatureException', async () => jsonErr(
    await rawKms('Encrypt', { KeyId: K1, Plaintext: 'aGVsbG8=' }, { mutate: (q) => ({ ...q, body: q.body.replace('aGVsbG8=', 'aGVsbG9=') }) }),
    400, 'com.amazon.coral.service#InvalidSignatureException'));
  await check('a signed header changed after signing (x-amz-target) is refused', async () => jsonErr(
    await rawKms('Encrypt', { KeyId: K1, Plaintext: 'aGVsbG8=' }, { mutate: (q) => ({ ...q, headers: { ...q.headers, 'x-amz-target': 'TrentService.Decrypt' } }) }),
    400, 'com.amazon.coral.service#InvalidSignatureException'));
  await check('the server counted those signature failures', async () => eq((await stats()).signature_failures - before, 3));
  await check('a credential scoped to another region is refused: InvalidSignatureException', async () => {
    const r = await rawKms('DescribeKey', { KeyId: K1 }, { mutate: (q) => ({ ...q, headers: { ...q.headers, authorization: q.headers.authorization.replace(`/${region}/`, '/us-west-2/') } }) });
    return jsonErr(r, 400, 'com.amazon.coral.service#InvalidSignatureException');
  });
  await check('no Authorization header: 400 MissingAuthenticationTokenException', async () => jsonErr(
    await fetchRaw('POST', '/', { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt' }, '{}'),
    400, 'com.amazon.coral.service#MissingAuthenticationTokenException'));
  await check('an Authorization header without SignedHeaders: 400 IncompleteSignatureException', async () => jsonErr(
    await fetchRaw('POST', '/', { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt', 'x-amz-date': amzNow(),
      authorization: `AWS4-HMAC-SHA256 Credential=${MAIN.access_key_id}/${amzNow().slice(0, 8)}/${region}/kms/aws4_request, Signature=00` }, '{}'),
    400, 'com.amazon.coral.service#IncompleteSignatureException'));
  await check('KMS\'s own errors carry no namespace: {"__type":"NotFoundException","message":...}', async () => jsonErr(
    await rawKms('Encrypt', { KeyId: 'alias/nope', Plaintext: 'aGVsbG8=' }), 400, 'NotFoundException'));
  await check('AccessDeniedException on the wire: {"__type":"AccessDeniedException","Message":...} (capital M, as KMS sends it)', async () => jsonErr(
    await rawKms('Encrypt', { KeyId: K1, Plaintext: 'aGVsbG8=' }, { cred: LIMITED }), 400, 'AccessDeniedException', 'Message'));
  await check('InvalidCiphertextException comes without a message, as KMS sends it', async () => {
    const r = await rawKms('Decrypt', { CiphertextBlob: Buffer.from('garbage').toString('base64') });
    return eq([r.status, r.body], [400, '{"__type":"InvalidCiphertextException"}']);
  });
  await check('throttling on the wire: com.amazon.coral.availability#ThrottlingException', async () => {
    await control('/__test/faults', { throttle: 1 });
    return jsonErr(await rawKms('DescribeKey', { KeyId: K1 }), 400, 'com.amazon.coral.availability#ThrottlingException');
  });
  await check('a body that is not JSON: 400 SerializationException', async () => jsonErr(
    await rawKmsBody('{not json'), 400, 'com.amazon.coral.service#SerializationException'));

  // --- faults: throttling and 5xx that the SDK's own retry completes
  await check('2 throttled calls (400 ThrottlingException): the SDK retries and the 3rd attempt succeeds', async () => {
    await control('/__test/faults', { throttle: 2 });
    const r = await c.send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt }));
    return eq([r.KeyId, r.$metadata.attempts, (await stats()).ops.Encrypt.ThrottlingException >= 2], [arnOf(K1), 3, true]);
  });
  await check('a throttled call without retries raises ThrottlingException (400)', async () => {
    await control('/__test/faults', { throttle: 1 });
    try { await kmsClient(undefined, { maxAttempts: 1 }).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })); return 'no error'; } catch (e) {
      return eq([e instanceof kms.KMSServiceException, e.name, e.$metadata.httpStatusCode], [true, 'ThrottlingException', 400]);
    }
  });
  await expectError('an injected 500 KMSInternalException is raised as kms.KMSInternalException (no retry)',
    async () => { await control('/__test/faults', { errors: [{ status: 500, type: 'KMSInternalException' }] }); return kmsClient(undefined, { maxAttempts: 1 }).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })); },
    kms.KMSInternalException, 'KMSInternalException', 500);
  await check('an injected 503 DependencyTimeoutException, then the SDK retry succeeds', async () => {
    await control('/__test/faults', { errors: [{ status: 503, type: 'DependencyTimeoutException' }] });
    const r = await c.send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt }));
    return eq([r.KeyId, r.$metadata.attempts], [arnOf(K1), 2]);
  });
  await check('a dropped connection: the SDK sees a network error, and its retry succeeds', async () => {
    await control('/__test/faults', { drop: 1 });
    let err;
    try { await kmsClient(undefined, { maxAttempts: 1 }).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })); } catch (e) { err = e; }
    if (!err || err.$metadata && err.$metadata.httpStatusCode) return `got ${err && err.name}`;
    await control('/__test/faults', { drop: 1 });
    const r = await c.send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt }));
    return eq([r.KeyId, r.$metadata.attempts], [arnOf(K1), 2]);
  });
  await check('delay_ms: a slow KMS call times out in the SDK, while the server goes on answering other requests', async () => {
    await control('/__test/faults', { delay_ms: 120000 });
    const slow = kmsClient(undefined, { maxAttempts: 1, requestHandler: new NodeHttpHandler({ requestTimeout: 1500, throwOnRequestTimeout: true }) })
      .send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })).then(() => 'answered', (e) => `error ${e.name}`);
    // The server answers the control API while the call waits (a state, no timing).
    let held = 0;
    for (let i = 0; i < 200 && held < 1; i++) { held = (await stats()).kms_delayed_now; if (held < 1) await new Promise((r) => setTimeout(r, 50)); }
    const r = await slow;
    await control('/__test/faults', { delay_ms: 0 }); // releases the held call
    const after = await c.send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt }));
    return eq([held, r, after.KeyId], [1, 'error TimeoutError', arnOf(K1)]);
  });
  await check('stats.connections: a client reusing its connection adds none', async () => {
    const reuse = kmsClient(undefined, { requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: 1 }), httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 1 }) }) });
    await reuse.send(new kms.DescribeKeyCommand({ KeyId: K1 }));
    const before = (await stats()).connections;
    for (let i = 0; i < 3; i++) await reuse.send(new kms.DescribeKeyCommand({ KeyId: K1 }));
    const after = (await stats()).connections;
    reuse.destroy();
    return eq(after - before, 1); // only the second stats request's own connection (agent: false)
  });
  await control('/__test/faults', { reset: true });
}
// A signed request whose body is not JSON.
function rawKmsBody(body) {
  const u = new URL(URL_);
  const amzDate = amzNow();
  const h = { 'content-type': 'application/x-amz-json-1.1', host: u.host, 'x-amz-date': amzDate, 'x-amz-target': 'TrentService.Encrypt' };
  const s = sigv4({ method: 'POST', path: '/', headers: h, body, akid: MAIN.access_key_id, secret: MAIN.secret_access_key, region, service: 'kms', amzDate });
  return fetchRaw('POST', '/', { ...h, authorization: s.authorization }, body);
}

async function credentialChecks() {
  const pt = Buffer.from('credentials from a provider');
  const useFor = async (creds) => {
    const c = typeof creds === 'function' ? await creds() : creds;
    if (!c.sessionToken || !(c.expiration instanceof Date)) return `credentials without token or expiration: ${Object.keys(c)}`;
    const r = await kmsClient(c).send(new kms.EncryptCommand({ KeyId: 'alias/orgcrypt', Plaintext: pt }));
    return eq(r.KeyId, arnOf(K1));
  };
  const stsClient = new sts.STSClient({ region, endpoint: URL_ });
  const role = cfg.sts.role_arns[0];
  let stsCreds;
  await check('STS AssumeRoleWithWebIdentity (@aws-sdk/client-sts): credentials with a session token, valid for KMS', async () => {
    const r = await stsClient.send(new sts.AssumeRoleWithWebIdentityCommand({ RoleArn: role, RoleSessionName: 'check', WebIdentityToken: cfg.sts.web_identity_token }));
    stsCreds = { accessKeyId: r.Credentials.AccessKeyId, secretAccessKey: r.Credentials.SecretAccessKey, sessionToken: r.Credentials.SessionToken, expiration: r.Credentials.Expiration };
    if (!/assumed-role\/orgcrypt-kms\/check$/.test(r.AssumedRoleUser.Arn)) return `AssumedRoleUser ${r.AssumedRoleUser.Arn}`;
    return useFor(stsCreds);
  });
  await expectError('STS with a wrong web identity token: InvalidIdentityTokenException (400)',
    () => stsClient.send(new sts.AssumeRoleWithWebIdentityCommand({ RoleArn: role, RoleSessionName: 'check', WebIdentityToken: 'wrong' })),
    sts.InvalidIdentityTokenException, 'InvalidIdentityTokenException', 400);
  await expectError('STS with a role that is not accepted: AccessDenied (403)',
    () => stsClient.send(new sts.AssumeRoleWithWebIdentityCommand({ RoleArn: 'arn:aws:iam::123456789012:role/other', RoleSessionName: 'check', WebIdentityToken: cfg.sts.web_identity_token })),
    sts.STSServiceException, 'AccessDenied', 403);
  await check('the SDK web identity provider (fromTokenFile: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ENDPOINT_URL_STS)', async () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kmscheck-')), 'token');
    fs.writeFileSync(f, cfg.sts.web_identity_token, { mode: 0o600 });
    Object.assign(process.env, { AWS_WEB_IDENTITY_TOKEN_FILE: f, AWS_ROLE_ARN: role, AWS_ROLE_SESSION_NAME: 'check-file', AWS_ENDPOINT_URL_STS: URL_, AWS_REGION: region });
    try { return await useFor(fromTokenFile({ clientConfig: { region } })); } finally {
      for (const v of ['AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME', 'AWS_ENDPOINT_URL_STS', 'AWS_REGION']) delete process.env[v];
      fs.rmSync(path.dirname(f), { recursive: true });
    }
  });
  await check('AWS_ENDPOINT_URL_KMS points a KMSClient without an endpoint at the server', async () => {
    process.env.AWS_ENDPOINT_URL_KMS = URL_;
    try {
      const r = await new kms.KMSClient({ region, credentials: credsOf(MAIN) }).send(new kms.DescribeKeyCommand({ KeyId: K1 }));
      return eq(r.KeyMetadata.Arn, arnOf(K1));
    } finally { delete process.env.AWS_ENDPOINT_URL_KMS; }
  });

  // ECS: AWS_CONTAINER_CREDENTIALS_FULL_URI (+ AWS_CONTAINER_AUTHORIZATION_TOKEN)
  const ecsUri = `${URL_}/ecs/creds`;
  const withEnv = async (env, fn) => {
    Object.assign(process.env, env);
    try { return await fn(); } finally { for (const v of Object.keys(env)) delete process.env[v]; }
  };
  // (fromContainerMetadata and fromInstanceMetadata speak plain HTTP only, as
  // the real link-local endpoints do; fromHttp also speaks HTTPS.)
  if (URL_.startsWith('http:')) {
    await check('ECS: fromContainerMetadata with AWS_CONTAINER_CREDENTIALS_FULL_URI and the authorization token', () =>
      withEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: ecsUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: cfg.ecs.authorization },
        () => useFor(fromContainerMetadata({ maxRetries: 0, timeout: 5000 }))));
  }
  await check('ECS: fromHttp (the provider of the default chain) with the same variables', () =>
    withEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: ecsUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: cfg.ecs.authorization },
      () => useFor(fromHttp({ maxRetries: 0, timeout: 5000 }))));
  await check('ECS: a wrong authorization token is refused (401) and the provider fails', async () => {
    const r = await fetchRaw('GET', '/ecs/creds', { authorization: 'wrong' }, '');
    if (r.status !== 401) return `status ${r.status}`;
    try {
      await withEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: ecsUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'wrong' }, () => fromHttp({ maxRetries: 0, timeout: 5000 })());
      return 'provider succeeded';
    } catch (e) { return true; }
  });

  // IMDSv2: AWS_EC2_METADATA_SERVICE_ENDPOINT
  if (URL_.startsWith('http:')) {
    await check('IMDSv2: fromInstanceMetadata with AWS_EC2_METADATA_SERVICE_ENDPOINT (token, role, credentials)', () =>
      withEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: URL_ }, () => useFor(fromInstanceMetadata({ maxRetries: 0, timeout: 5000 }))));
  }
  await check('IMDSv2: without a session token 401, with one the role name; PUT without a TTL 400', async () => {
    const a = await fetchRaw('GET', '/latest/meta-data/iam/security-credentials/', {}, '');
    const t = await fetchRaw('PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '60' }, '');
    const b = await fetchRaw('GET', '/latest/meta-data/iam/security-credentials/', { 'x-aws-ec2-metadata-token': t.body }, '');
    const n = await fetchRaw('PUT', '/latest/api/token', {}, '');
    return eq([a.status, t.status, b.status, b.body, n.status], [401, 200, 200, cfg.imds.role_name, 400]);
  });

  // Expiry of issued credentials
  await expectError('expire_credentials: the STS credentials are now refused with ExpiredTokenException',
    async () => { await control('/__test/faults', { expire_credentials: true }); return kmsClient(stsCreds).send(new kms.EncryptCommand({ KeyId: K1, Plaintext: pt })); },
    kms.KMSServiceException, 'ExpiredTokenException', 400);
  await check('... and fresh credentials from STS work again', async () => {
    const r = await stsClient.send(new sts.AssumeRoleWithWebIdentityCommand({ RoleArn: role, RoleSessionName: 'again', WebIdentityToken: cfg.sts.web_identity_token }));
    return useFor({ accessKeyId: r.Credentials.AccessKeyId, secretAccessKey: r.Credentials.SecretAccessKey, sessionToken: r.Credentials.SessionToken, expiration: r.Credentials.Expiration });
  });
  await check('stats count the STS, ECS and IMDS credential requests served', async () => {
    const { credential_requests: s, credentials_issued: i } = await stats();
    const http_ = URL_.startsWith('http:');
    return s.sts >= 5 && i.sts === 3 && s.ecs >= 3 && i.ecs === (http_ ? 2 : 1) && (!http_ || (s.imds_credentials >= 1 && i.imds === 1))
      ? true : JSON.stringify({ s, i });
  });
}

async function main() {
  if (phase === 'all') { await kmsChecks(); await credentialChecks(); }
  if (phase === 'tls') {
    // The SDK over HTTPS, verifying the server's certificate (NODE_EXTRA_CA_CERTS).
    await check('over HTTPS: Encrypt and Decrypt with @aws-sdk/client-kms', async () => {
      const c = kmsClient();
      const e = await c.send(new kms.EncryptCommand({ KeyId: 'alias/orgcrypt', Plaintext: Buffer.from('tls'), EncryptionContext: { org: 'tls' } }));
      const d = await c.send(new kms.DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionContext: { org: 'tls' } }));
      return eq([Buffer.from(d.Plaintext).toString(), d.KeyId], ['tls', arnOf(K1)]);
    });
    await credentialChecks();
  }
  if (phase === 'persist-write') {
    await check('Encrypt before the restart', async () => {
      const e = await kmsClient().send(new kms.EncryptCommand({ KeyId: 'alias/orgcrypt', Plaintext: Buffer.from('survives'), EncryptionContext: { org: 'p' } }));
      fs.writeFileSync(args.file, Buffer.from(e.CiphertextBlob).toString('base64'));
    });
  }
  if (phase === 'persist-read') {
    await check('after a restart the same blob decrypts (the key material was kept)', async () => {
      const d = await kmsClient().send(new kms.DecryptCommand({ CiphertextBlob: Buffer.from(fs.readFileSync(args.file, 'utf8'), 'base64'), EncryptionContext: { org: 'p' } }));
      return eq(Buffer.from(d.Plaintext).toString(), 'survives');
    });
  }
}
main().then(() => process.exit(failed ? 1 : 0), (e) => { notOk('check_kms.js ran to the end', e.stack); process.exit(1); });
