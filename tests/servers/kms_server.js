#!/usr/bin/env node
// A loopback test server for the aws-kms: provider. It speaks the wire
// protocols of AWS KMS (JSON 1.1, X-Amz-Target: TrentService.*, SigV4),
// STS AssumeRoleWithWebIdentity (awsQuery form in, XML out), the ECS
// container credentials endpoint and EC2 IMDSv2, all on one port, plus a
// small unsigned control API under /__test/. It is checked against the AWS
// SDK for JavaScript by check_kms.js; README.md documents it.
//
//   node kms_server.js --state DIR [--config FILE] [--port N] [--host H]
//                      [--tls-cert F --tls-key F]
//
// Nothing secret is logged (no key material, plaintext, secret key, session
// token or web identity token): DIR/server.log has one line per request.
'use strict';

const http = require('http');
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

// ---------------------------------------------------------------- arguments
const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--') || i + 1 >= process.argv.length) usage(`bad argument ${a}`);
  args[a.slice(2)] = process.argv[++i];
}
function usage(msg) {
  process.stderr.write(`kms_server: ${msg}\nusage: node kms_server.js --state DIR [--config FILE] [--port N] [--host H] [--tls-cert F --tls-key F]\n`);
  process.exit(2);
}
if (!args.state) usage('--state DIR is required');
const DIR = path.resolve(args.state);
const STATE_FILE = path.join(DIR, 'state.json');
const LOG = fs.createWriteStream(path.join(DIR, 'server.log'), { flags: 'a', mode: 0o600 });
function log(line) { LOG.write(`${new Date().toISOString()} ${line}\n`); }

// ---------------------------------------------------------------- state
// state.json is created from --config on first start and kept: the keys'
// material survives a restart, and so do the temporary credentials issued.
let state;
function saveState() {
  const tmp = `${STATE_FILE}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, STATE_FILE);
}
function loadState() {
  if (fs.existsSync(STATE_FILE)) {
    state = JSON.parse(fs.readFileSync(STATE_FILE, 'utf8'));
    if (args.config) log(`state.json exists: --config ${args.config} ignored`);
  } else {
    state = args.config ? JSON.parse(fs.readFileSync(args.config, 'utf8')) : {};
  }
  state.region = state.region || 'us-east-1';
  state.account_id = state.account_id || '111122223333';
  state.keys = (state.keys || []).map(newKey);
  state.credentials = state.credentials || [];
  state.issued = state.issued || [];
  state.sts = state.sts || {};
  state.ecs = state.ecs || {};
  state.imds = state.imds || {};
  saveState();
}
function newKey(k) {
  return {
    id: k.id || crypto.randomUUID(),
    aliases: k.aliases || [],
    state: k.state || 'Enabled',
    description: k.description || '',
    material: k.material || crypto.randomBytes(32).toString('base64'),
    creation_date: k.creation_date || Math.floor(Date.now() / 1000),
    deletion_date: k.deletion_date,
    require_context_keys: k.require_context_keys,
  };
}
const keyArn = (k) => `arn:aws:kms:${state.region}:${state.account_id}:key/${k.id}`;
const aliasArn = (a) => `arn:aws:kms:${state.region}:${state.account_id}:${a}`;

// ---------------------------------------------------------------- faults, stats
let faults = { throttle: 0, errors: [], delay_ms: 0, drop: 0, credential_errors: 0 };
let stats;
const waiting = new Set(); // KMS calls waiting out delay_ms
function resetStats() {
  stats = {
    connections: 0, kms_requests: 0, kms_delayed_now: waiting.size, ops: {}, signature_failures: 0, auth_failures: {},
    last_signed_headers: null, last_access_key_id: null, last_operation: null,
    last_encryption_context: null, last_key_arn: null,
    credential_requests: { sts: 0, ecs: 0, imds_token: 0, imds_role: 0, imds_credentials: 0 },
    credential_failures: { sts: 0, ecs: 0, imds: 0 },
    credentials_issued: { sts: 0, ecs: 0, imds: 0 },
  };
}
resetStats();
function count(op, result) {
  const o = (stats.ops[op] = stats.ops[op] || {});
  o[result] = (o[result] || 0) + 1;
}

// ---------------------------------------------------------------- errors
class KmsError extends Error {
  constructor(type, message, status = 400) { super(message); this.type = type; this.status = status; }
}
// On the wire, errors raised by AWS's service framework (authentication,
// request parsing, validation, throttling) carry a namespace in "__type",
// e.g. "com.amazon.coral.service#UnrecognizedClientException"; KMS's own
// modeled errors do not ("NotFoundException"). Clients take the part after
// '#' (the SDKs' sanitizeErrorCode). Stats and the log use the short name.
const CORAL = 'com.amazon.coral.service#';
const WIRE_TYPE = {
  MissingAuthenticationTokenException: CORAL, IncompleteSignatureException: CORAL, InvalidSignatureException: CORAL,
  UnrecognizedClientException: CORAL, ExpiredTokenException: CORAL, UnknownOperationException: CORAL,
  SerializationException: CORAL, ValidationException: 'com.amazon.coral.validate#',
  ThrottlingException: 'com.amazon.coral.availability#',
};
const wireType = (t) => (WIRE_TYPE[t] || '') + t;
// KMS spells the field "Message" in AccessDeniedException (seen in a real
// response quoted in aws/aws-nitro-enclaves-sdk-c#157) and "message"
// elsewhere; the SDKs read either.
const messageField = (t) => (t === 'AccessDeniedException' ? 'Message' : 'message');
const notFoundKey = (ref) => new KmsError('NotFoundException', `Key '${ref}' does not exist`);
const validation = (m) => new KmsError('ValidationException', `1 validation error detected: ${m}`);
const serialization = (m) => new KmsError('SerializationException', m);

// ---------------------------------------------------------------- key lookup
// KeyId: a key id, key ARN, alias name or alias ARN (of this region/account).
function resolveKey(ref) {
  if (typeof ref !== 'string' || ref.length < 1 || ref.length > 2048) throw validation("Value at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048");
  let name = ref;
  if (ref.startsWith('arn:')) {
    const m = /^arn:aws:kms:([^:]*):([^:]*):((?:key|alias)\/.+)$/.exec(ref);
    if (!m) throw notFoundKey(ref);
    if (m[1] !== state.region || m[2] !== state.account_id) throw notFoundKey(ref);
    name = m[3];
    if (name.startsWith('key/')) name = name.slice(4);
  }
  if (name.startsWith('alias/')) {
    const k = state.keys.find((x) => x.aliases.includes(name));
    if (!k) throw new KmsError('NotFoundException', `Alias ${aliasArn(name)} is not found.`);
    return k;
  }
  const k = state.keys.find((x) => x.id === name);
  if (!k) throw notFoundKey(ref.startsWith('arn:') ? ref : `arn:aws:kms:${state.region}:${state.account_id}:key/${ref}`);
  return k;
}
function requireUsable(k) {
  if (k.state === 'Disabled') throw new KmsError('DisabledException', `${keyArn(k)} is disabled.`);
  if (k.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${keyArn(k)} is pending deletion.`);
  if (k.state !== 'Enabled') throw new KmsError('KMSInvalidStateException', `${keyArn(k)} is ${k.state}.`);
}
function requireAllowed(ctx, k, action) {
  const allowed = ctx.cred.allowed_keys;
  if (allowed && !allowed.some((a) => a === k.id || a === keyArn(k))) {
    throw new KmsError('AccessDeniedException',
      `User: ${ctx.cred.principal || `arn:aws:iam::${state.account_id}:user/test`} is not authorized to perform: kms:${action} on resource: ${keyArn(k)} because no identity-based policy allows the kms:${action} action`);
  }
}
// The optional per-key rule "require_context_keys": the IAM condition
// kms:EncryptionContextKeys that the docs recommend; missing keys → denied.
function requireContext(ctx, k, action, ec) {
  for (const name of k.require_context_keys || []) {
    if (!ec || typeof ec[name] !== 'string') {
      throw new KmsError('AccessDeniedException',
        `User: ${ctx.cred.principal || `arn:aws:iam::${state.account_id}:user/test`} is not authorized to perform: kms:${action} on resource: ${keyArn(k)} because no identity-based policy allows the kms:${action} action (encryption context key '${name}' is required)`);
    }
  }
}

// ---------------------------------------------------------------- input checks
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
function blob(v, field, max) {
  if (v === undefined) throw validation(`Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  if (typeof v !== 'string' || !B64.test(v)) throw serialization(`Could not parse '${field}': not base64`);
  const b = Buffer.from(v, 'base64');
  if (b.length < 1 || b.length > max) throw validation(`Value at '${field}' failed to satisfy constraint: Member must have length between 1 and ${max}`);
  return b;
}
function encryptionContext(v) {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw serialization("Could not parse 'encryptionContext': not a map");
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw serialization(`Could not parse 'encryptionContext': value of '${k}' is not a string`);
  }
  return v;
}
function algorithm(v) {
  if (v !== undefined && v !== 'SYMMETRIC_DEFAULT') {
    throw validation(`Value '${v}' at 'encryptionAlgorithm' failed to satisfy constraint: this key supports only SYMMETRIC_DEFAULT`);
  }
}

// ---------------------------------------------------------------- the blob
// CiphertextBlob = "OCK" 0x01 | key id (16 bytes) | IV (12) | tag (16) | AES-256-GCM(plaintext)
// AAD = the first 20 bytes | the canonical encoding of the encryption
// context (JSON of its [name, value] pairs sorted by name).
const MAGIC = Buffer.from('OCK\x01', 'latin1');
const canonicalContext = (ec) => Buffer.from(JSON.stringify(Object.keys(ec).sort().map((n) => [n, ec[n]])), 'utf8');
function seal(k, plaintext, ec) {
  const head = Buffer.concat([MAGIC, Buffer.from(k.id.replace(/-/g, ''), 'hex')]);
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', Buffer.from(k.material, 'base64'), iv);
  c.setAAD(Buffer.concat([head, canonicalContext(ec)]));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([head, iv, c.getAuthTag(), ct]);
}
const invalidCiphertext = () => new KmsError('InvalidCiphertextException', '');
function blobKeyId(b) {
  if (b.length < 48 || !b.subarray(0, 4).equals(MAGIC)) throw invalidCiphertext();
  const h = b.subarray(4, 20).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
function open(k, b, ec) {
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', Buffer.from(k.material, 'base64'), b.subarray(20, 32));
    d.setAAD(Buffer.concat([b.subarray(0, 20), canonicalContext(ec)]));
    d.setAuthTag(b.subarray(32, 48));
    return Buffer.concat([d.update(b.subarray(48)), d.final()]);
  } catch (e) {
    throw invalidCiphertext();
  }
}

// ---------------------------------------------------------------- KMS operations
function keyMetadata(k) {
  const m = {
    AWSAccountId: state.account_id, KeyId: k.id, Arn: keyArn(k), CreationDate: k.creation_date,
    Enabled: k.state === 'Enabled', Description: k.description, KeyUsage: 'ENCRYPT_DECRYPT', KeyState: k.state,
    Origin: 'AWS_KMS', KeyManager: 'CUSTOMER', CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT', KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'], MultiRegion: false,
  };
  if (k.deletion_date) m.DeletionDate = k.deletion_date;
  return m;
}
function checkAliasName(a) {
  if (typeof a !== 'string' || !/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(a)) {
    throw validation(`Value '${a}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$`);
  }
  if (a.startsWith('alias/aws/')) throw new KmsError('NotAuthorizedException', 'Cannot create an alias with the reserved prefix alias/aws/');
}
function setAlias(alias, k) {
  for (const x of state.keys) x.aliases = x.aliases.filter((a) => a !== alias);
  k.aliases.push(alias);
}

const OPS = {
  Encrypt(ctx, p) {
    const plaintext = blob(p.Plaintext, 'plaintext', 4096);
    const ec = encryptionContext(p.EncryptionContext);
    algorithm(p.EncryptionAlgorithm);
    stats.last_encryption_context = ec;
    const k = resolveKey(p.KeyId);
    requireAllowed(ctx, k, 'Encrypt');
    requireUsable(k);
    requireContext(ctx, k, 'Encrypt', ec);
    stats.last_key_arn = keyArn(k);
    return { CiphertextBlob: seal(k, plaintext, ec).toString('base64'), KeyId: keyArn(k), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  },
  Decrypt(ctx, p) {
    const b = blob(p.CiphertextBlob, 'ciphertextBlob', 6144);
    const ec = encryptionContext(p.EncryptionContext);
    algorithm(p.EncryptionAlgorithm);
    stats.last_encryption_context = ec;
    const id = blobKeyId(b);
    const k = state.keys.find((x) => x.id === id);
    if (!k) throw notFoundKey(`arn:aws:kms:${state.region}:${state.account_id}:key/${id}`);
    if (p.KeyId !== undefined && resolveKey(p.KeyId) !== k) {
      throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
    }
    requireAllowed(ctx, k, 'Decrypt');
    requireUsable(k);
    requireContext(ctx, k, 'Decrypt', ec);
    stats.last_key_arn = keyArn(k);
    return { Plaintext: open(k, b, ec).toString('base64'), KeyId: keyArn(k), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  },
  GenerateDataKey(ctx, p) {
    const ec = encryptionContext(p.EncryptionContext);
    let n;
    if (p.KeySpec !== undefined && p.NumberOfBytes !== undefined) throw validation('Please specify either number of bytes or key spec.');
    if (p.KeySpec === 'AES_256') n = 32;
    else if (p.KeySpec === 'AES_128') n = 16;
    else if (p.KeySpec !== undefined) throw validation(`Value '${p.KeySpec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`);
    else if (Number.isInteger(p.NumberOfBytes) && p.NumberOfBytes >= 1 && p.NumberOfBytes <= 1024) n = p.NumberOfBytes;
    else if (p.NumberOfBytes !== undefined) throw validation(`Value '${p.NumberOfBytes}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024`);
    else throw validation('Please specify either number of bytes or key spec.');
    stats.last_encryption_context = ec;
    const k = resolveKey(p.KeyId);
    requireAllowed(ctx, k, 'GenerateDataKey');
    requireUsable(k);
    requireContext(ctx, k, 'GenerateDataKey', ec);
    stats.last_key_arn = keyArn(k);
    const dk = crypto.randomBytes(n);
    return { CiphertextBlob: seal(k, dk, ec).toString('base64'), Plaintext: dk.toString('base64'), KeyId: keyArn(k) };
  },
  DescribeKey(ctx, p) {
    const k = resolveKey(p.KeyId);
    requireAllowed(ctx, k, 'DescribeKey');
    return { KeyMetadata: keyMetadata(k) };
  },
  CreateKey(ctx, p) {
    if (p.KeySpec !== undefined && p.KeySpec !== 'SYMMETRIC_DEFAULT') throw validation('this test server makes SYMMETRIC_DEFAULT keys only');
    const k = newKey({ description: p.Description });
    state.keys.push(k);
    saveState();
    return { KeyMetadata: keyMetadata(k) };
  },
  CreateAlias(ctx, p) {
    checkAliasName(p.AliasName);
    const k = resolveKey(p.TargetKeyId);
    if (state.keys.some((x) => x.aliases.includes(p.AliasName))) throw new KmsError('AlreadyExistsException', `An alias with the name ${aliasArn(p.AliasName)} already exists`);
    setAlias(p.AliasName, k);
    saveState();
    return null;
  },
  UpdateAlias(ctx, p) {
    checkAliasName(p.AliasName);
    const k = resolveKey(p.TargetKeyId);
    if (!state.keys.some((x) => x.aliases.includes(p.AliasName))) throw new KmsError('NotFoundException', `Alias ${aliasArn(p.AliasName)} is not found.`);
    setAlias(p.AliasName, k);
    saveState();
    return null;
  },
  DeleteAlias(ctx, p) {
    checkAliasName(p.AliasName);
    const k = resolveKey(p.AliasName);
    k.aliases = k.aliases.filter((a) => a !== p.AliasName);
    saveState();
    return null;
  },
  DisableKey(ctx, p) { return setKeyState(resolveKey(p.KeyId), 'Disabled'); },
  EnableKey(ctx, p) { return setKeyState(resolveKey(p.KeyId), 'Enabled'); },
  CancelKeyDeletion(ctx, p) {
    const k = resolveKey(p.KeyId);
    if (k.state !== 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${keyArn(k)} is not pending deletion.`);
    setKeyState(k, 'Disabled');
    return { KeyId: keyArn(k) };
  },
  ScheduleKeyDeletion(ctx, p) {
    const k = resolveKey(p.KeyId);
    const days = p.PendingWindowInDays === undefined ? 30 : p.PendingWindowInDays;
    if (!Number.isInteger(days) || days < 7 || days > 30) throw validation(`Value '${days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30`);
    if (k.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${keyArn(k)} is pending deletion.`);
    setKeyState(k, 'PendingDeletion', Math.floor(Date.now() / 1000) + days * 86400);
    return { KeyId: keyArn(k), DeletionDate: k.deletion_date, KeyState: 'PendingDeletion', PendingWindowInDays: days };
  },
};
function setKeyState(k, s, deletionDate) {
  if (k.state === 'PendingDeletion' && s !== 'Disabled' && s !== 'PendingDeletion') {
    throw new KmsError('KMSInvalidStateException', `${keyArn(k)} is pending deletion.`);
  }
  k.state = s;
  if (s === 'PendingDeletion') k.deletion_date = deletionDate || Math.floor(Date.now() / 1000) + 30 * 86400;
  else delete k.deletion_date;
  saveState();
  return null;
}

// ---------------------------------------------------------------- SigV4
// The Authorization header is parsed, the secret looked up, and the
// signature recomputed with @smithy/signature-v4 over exactly the
// SignedHeaders received, at the X-Amz-Date given.
function findCredential(akid, token) {
  const now = Date.now();
  const c = state.credentials.find((x) => x.access_key_id === akid) || state.issued.find((x) => x.access_key_id === akid);
  if (!c) throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  if ((c.session_token || undefined) !== (token || undefined)) {
    throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (c.expiration && Date.parse(c.expiration) <= now) {
    throw new KmsError('ExpiredTokenException', 'The security token included in the request is expired');
  }
  return c;
}
async function verifySigV4(req, body) {
  const auth = req.headers.authorization;
  stats.last_signed_headers = null;
  stats.last_access_key_id = null;
  if (!auth) throw new KmsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = /^AWS4-HMAC-SHA256 (.*)$/.exec(auth);
  if (!m) throw new KmsError('IncompleteSignatureException', `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${auth.split(' ')[0]}`);
  const parts = {};
  for (const kv of m[1].split(',')) {
    const i = kv.indexOf('=');
    if (i > 0) parts[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
  }
  for (const need of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!parts[need]) throw new KmsError('IncompleteSignatureException', `Authorization header requires '${need}' parameter. Authorization=AWS4-HMAC-SHA256`);
  }
  const scope = parts.Credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request') {
    throw new KmsError('IncompleteSignatureException', "Credential should be scoped to a valid region, and terminated by 'aws4_request'.");
  }
  const [akid, day, region, service] = scope;
  const signed = parts.SignedHeaders.split(';');
  stats.last_signed_headers = parts.SignedHeaders;
  stats.last_access_key_id = akid;
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
    throw new KmsError('IncompleteSignatureException', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  const when = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const cred = findCredential(akid, req.headers['x-amz-security-token']);
  if (region !== state.region) throw new KmsError('InvalidSignatureException', `Credential should be scoped to a valid region. `);
  if (service !== 'kms') throw new KmsError('InvalidSignatureException', "Credential should be scoped to correct service: 'kms'. ");
  if (day !== amzDate.slice(0, 8)) throw new KmsError('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${day}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
  const fmt = (t) => new Date(t).toISOString().replace(/[-:]|\.\d{3}/g, '');
  const now = Date.now();
  if (when < now - 300000) throw new KmsError('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier than ${fmt(now - 300000)} (${fmt(now)} - 5 min.)`);
  if (when > now + 300000) throw new KmsError('InvalidSignatureException', `Signature not yet current: ${amzDate} is still later than ${fmt(now + 300000)} (${fmt(now)} + 5 min.)`);
  const sha = req.headers['x-amz-content-sha256'];
  if (sha !== undefined && sha !== crypto.createHash('sha256').update(body).digest('hex')) {
    throw new KmsError('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }
  // Only the headers that were signed (x-amz-date and the session token the
  // signer adds itself, the latter only if it was signed).
  const headers = {};
  for (const h of signed) {
    if (h === 'x-amz-date' || h === 'x-amz-security-token') continue;
    if (req.headers[h] !== undefined) headers[h] = String(req.headers[h]);
  }
  const url = new URL(req.url, 'http://x');
  const query = {};
  for (const [n, v] of url.searchParams) query[n] = n in query ? [].concat(query[n], v) : v;
  const signer = new SignatureV4({
    service: 'kms', region, sha256: Sha256, applyChecksum: false,
    credentials: {
      accessKeyId: akid, secretAccessKey: cred.secret_access_key,
      sessionToken: signed.includes('x-amz-security-token') ? req.headers['x-amz-security-token'] : undefined,
    },
  });
  const out = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: 'x', path: url.pathname, query, headers, body },
    { signingDate: new Date(when), signableHeaders: new Set(signed) });
  const want = /SignedHeaders=([^,]*), Signature=([0-9a-f]+)/.exec(out.headers.authorization);
  const got = Buffer.from(parts.Signature);
  const same = want && want[1] === parts.SignedHeaders && got.length === want[2].length &&
    crypto.timingSafeEqual(Buffer.from(want[2]), got);
  if (!same) {
    throw new KmsError('InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
  }
  return cred;
}

// ---------------------------------------------------------------- HTTP plumbing
function send(res, status, headers, body) {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body || '', 'utf8');
  res.writeHead(status, { ...headers, 'Content-Length': b.length });
  res.end(b);
}
function sendKms(res, status, obj) {
  send(res, status, { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': crypto.randomUUID() },
    obj === null ? '' : JSON.stringify(obj));
}
// delay_ms: each KMS call waits that long (a timer; other requests go on).
// Setting delay_ms again (e.g. to 0) releases the calls waiting now.
function delay(ms) {
  return new Promise((resolve) => {
    const w = { resolve: () => { clearTimeout(w.timer); waiting.delete(w); stats.kms_delayed_now = waiting.size; resolve(); } };
    w.timer = setTimeout(w.resolve, ms);
    waiting.add(w);
    stats.kms_delayed_now = waiting.size;
  });
}
const releaseDelayed = () => { for (const w of [...waiting]) w.resolve(); };

async function handleKms(req, res, body) {
  const target = String(req.headers['x-amz-target']);
  const op = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : target;
  stats.kms_requests++;
  stats.last_operation = op;
  if (faults.delay_ms > 0) await delay(faults.delay_ms);
  if (faults.drop > 0) {
    faults.drop--;
    count(op, 'dropped');
    log(`KMS ${op} dropped (fault)`);
    req.socket.destroy();
    return;
  }
  let result = 'ok';
  let akid = '-';
  try {
    let cred;
    try {
      cred = await verifySigV4(req, body);
    } catch (e) {
      akid = stats.last_access_key_id || '-';
      if (e.type === 'InvalidSignatureException') stats.signature_failures++;
      if (e instanceof KmsError) stats.auth_failures[e.type] = (stats.auth_failures[e.type] || 0) + 1;
      throw e;
    }
    akid = cred.access_key_id;
    if (!target.startsWith('TrentService.') || !Object.prototype.hasOwnProperty.call(OPS, op)) {
      throw new KmsError('UnknownOperationException', '');
    }
    if (!/^application\/x-amz-json-1\.1\b/.test(req.headers['content-type'] || '')) {
      throw serialization('Content-Type must be application/x-amz-json-1.1');
    }
    if (faults.throttle > 0) { faults.throttle--; throw new KmsError('ThrottlingException', 'Rate exceeded'); }
    if (faults.errors.length > 0) {
      const f = faults.errors.shift();
      throw new KmsError(f.type || 'KMSInternalException', f.message || 'injected fault', f.status || 500);
    }
    let p;
    try { p = body.length ? JSON.parse(body.toString('utf8')) : {}; } catch (e) { throw serialization('Start of structure or map found where not expected.'); }
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw serialization('Start of structure or map found where not expected.');
    const out = OPS[op]({ cred }, p);
    sendKms(res, 200, out);
  } catch (e) {
    if (!(e instanceof KmsError)) { log(`internal error: ${e.stack}`); e = new KmsError('KMSInternalException', 'internal error', 500); }
    result = e.type;
    // KMS leaves "message" out when it has none (InvalidCiphertextException).
    sendKms(res, e.status, e.message ? { __type: wireType(e.type), [messageField(e.type)]: e.message } : { __type: wireType(e.type) });
  }
  count(op, result);
  log(`KMS ${op} ${result} akid=${akid}`);
}

// ---------------------------------------------------------------- credential sources
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const randomAkid = () => 'ASIA' + Array.from(crypto.randomBytes(16), (b) => ALNUM[b % 32]).join('');
const isoSeconds = (t) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
function issue(source, lifetime, principal, allowed) {
  const now = Date.now();
  state.issued = state.issued.filter((c) => Date.parse(c.expiration) > now - 3600 * 1000);
  const c = {
    source, principal, access_key_id: randomAkid(),
    secret_access_key: crypto.randomBytes(30).toString('base64'),
    session_token: crypto.randomBytes(96).toString('base64'),
    expiration: isoSeconds(now + lifetime * 1000),
  };
  if (allowed) c.allowed_keys = allowed;
  state.issued.push(c);
  stats.credentials_issued[source]++;
  saveState();
  return c;
}
function credentialFault(res, kind) {
  if (faults.credential_errors > 0) {
    faults.credential_errors--;
    stats.credential_failures[kind]++;
    log(`${kind} 503 (fault)`);
    send(res, 503, { 'Content-Type': 'text/plain' }, 'Service Unavailable');
    return true;
  }
  return false;
}

const xmlEscape = (s) => String(s).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]);
const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
function stsError(res, status, code, message) {
  stats.credential_failures.sts++;
  log(`STS ${status} ${code}`);
  send(res, status, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': crypto.randomUUID() },
    `<ErrorResponse xmlns="${STS_NS}">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${code}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${crypto.randomUUID()}</RequestId>\n</ErrorResponse>\n`);
}
function handleSts(req, res, body) {
  stats.credential_requests.sts++;
  if (credentialFault(res, 'sts')) return;
  const p = new URLSearchParams(body.toString('utf8'));
  const action = p.get('Action');
  if (action !== 'AssumeRoleWithWebIdentity') {
    return stsError(res, 400, 'InvalidAction', `Could not find operation ${action} for version ${p.get('Version')}`);
  }
  if (p.get('Version') !== '2011-06-15') return stsError(res, 400, 'InvalidAction', `Could not find operation ${action} for version ${p.get('Version')}`);
  for (const need of ['RoleArn', 'RoleSessionName', 'WebIdentityToken']) {
    if (!p.get(need)) return stsError(res, 400, 'ValidationError', `1 validation error detected: Value null at '${need[0].toLowerCase()}${need.slice(1)}' failed to satisfy constraint: Member must not be null`);
  }
  const session = p.get('RoleSessionName');
  if (!/^[\w+=,.@-]{2,64}$/.test(session)) return stsError(res, 400, 'ValidationError', "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*");
  let duration = 3600;
  if (p.get('DurationSeconds') !== null) {
    duration = Number(p.get('DurationSeconds'));
    if (!Number.isInteger(duration) || duration < 900 || duration > 43200) return stsError(res, 400, 'ValidationError', "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900");
  }
  const cfg = state.sts;
  if (!cfg.web_identity_token || p.get('WebIdentityToken') !== cfg.web_identity_token) {
    return stsError(res, 400, 'InvalidIdentityToken', "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements");
  }
  const role = p.get('RoleArn');
  if (!(cfg.role_arns || []).includes(role)) {
    return stsError(res, 403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
  }
  const roleName = role.replace(/^.*:role\//, '').split('/').pop();
  const principal = `arn:aws:sts::${state.account_id}:assumed-role/${roleName}/${session}`;
  const c = issue('sts', cfg.lifetime_seconds || duration, principal, cfg.allowed_keys);
  log(`STS AssumeRoleWithWebIdentity ok role=${role} akid=${c.access_key_id}`);
  send(res, 200, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': crypto.randomUUID() },
`<AssumeRoleWithWebIdentityResponse xmlns="${STS_NS}">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:test:orgcrypt</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>${xmlEscape(principal)}</Arn>
      <AssumedRoleId>AROA${randomAkid().slice(4)}:${xmlEscape(session)}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>${c.session_token}</SessionToken>
      <SecretAccessKey>${c.secret_access_key}</SecretAccessKey>
      <Expiration>${c.expiration}</Expiration>
      <AccessKeyId>${c.access_key_id}</AccessKeyId>
    </Credentials>
    <Provider>oidc.test.local</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${crypto.randomUUID()}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`);
}

function handleEcs(req, res) {
  stats.credential_requests.ecs++;
  if (credentialFault(res, 'ecs')) return;
  const cfg = state.ecs;
  const json = (status, o) => send(res, status, { 'Content-Type': 'application/json' }, JSON.stringify(o));
  if (req.method !== 'GET') { stats.credential_failures.ecs++; return json(405, { code: 'MethodNotAllowed', message: 'GET only' }); }
  if (cfg.authorization && req.headers.authorization !== cfg.authorization) {
    stats.credential_failures.ecs++;
    log('ECS 401 (authorization)');
    return json(401, { code: 'AccessDenied', message: 'Unauthorized' });
  }
  const roleArn = cfg.role_arn || `arn:aws:iam::${state.account_id}:role/orgcrypt-task`;
  const c = issue('ecs', cfg.lifetime_seconds || 3600, `arn:aws:sts::${state.account_id}:assumed-role/${roleArn.split('/').pop()}/ecs-task`, cfg.allowed_keys);
  log(`ECS credentials ok akid=${c.access_key_id}`);
  json(200, { RoleArn: roleArn, AccessKeyId: c.access_key_id, SecretAccessKey: c.secret_access_key, Token: c.session_token, Expiration: c.expiration });
}

const imdsTokens = new Map(); // token → expiry (ms); in memory, as IMDS tokens are
function handleImds(req, res, url) {
  const text = (status, s, type = 'text/plain') => send(res, status, { 'Content-Type': type }, s);
  const cfg = state.imds;
  if (url.pathname === '/latest/api/token') {
    stats.credential_requests.imds_token++;
    if (req.method !== 'PUT') { stats.credential_failures.imds++; return text(405, 'Method Not Allowed'); }
    if (req.headers['x-forwarded-for']) { stats.credential_failures.imds++; return text(403, 'Forbidden'); }
    const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) { stats.credential_failures.imds++; return text(400, 'Bad Request'); }
    if (credentialFault(res, 'imds')) return;
    const t = crypto.randomBytes(40).toString('base64');
    for (const [x, until] of imdsTokens) if (until <= Date.now()) imdsTokens.delete(x);
    imdsTokens.set(t, Date.now() + ttl * 1000);
    log('IMDS token ok');
    return send(res, 200, { 'Content-Type': 'text/plain', 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) }, t);
  }
  const base = '/latest/meta-data/iam/security-credentials/';
  const isRole = url.pathname === base || url.pathname === base.slice(0, -1);
  if (isRole) stats.credential_requests.imds_role++; else stats.credential_requests.imds_credentials++;
  if (req.method !== 'GET') { stats.credential_failures.imds++; return text(405, 'Method Not Allowed'); }
  const t = req.headers['x-aws-ec2-metadata-token'];
  if (!t || !(imdsTokens.get(t) > Date.now())) { stats.credential_failures.imds++; log('IMDS 401'); return text(401, 'Unauthorized'); }
  if (credentialFault(res, 'imds')) return;
  const role = cfg.role_name || 'orgcrypt-instance-role';
  if (isRole) return text(200, role);
  if (url.pathname !== base + role) { stats.credential_failures.imds++; return text(404, 'Not Found', 'text/html'); }
  const c = issue('imds', cfg.lifetime_seconds || 3600, `arn:aws:sts::${state.account_id}:assumed-role/${role}/i-0123456789abcdef0`, cfg.allowed_keys);
  log(`IMDS credentials ok akid=${c.access_key_id}`);
  text(200, JSON.stringify({
    Code: 'Success', LastUpdated: isoSeconds(Date.now()), Type: 'AWS-HMAC',
    AccessKeyId: c.access_key_id, SecretAccessKey: c.secret_access_key, Token: c.session_token, Expiration: c.expiration,
  }, null, 2));
}

// ---------------------------------------------------------------- test controls
function publicKeys() {
  return state.keys.map((k) => ({ id: k.id, arn: keyArn(k), aliases: k.aliases, state: k.state, require_context_keys: k.require_context_keys }));
}
function handleTest(req, res, url, body) {
  const json = (status, o) => send(res, status, { 'Content-Type': 'application/json' }, JSON.stringify(o, null, 2) + '\n');
  let p = {};
  if (req.method === 'POST') {
    try { p = body.length ? JSON.parse(body.toString('utf8')) : {}; } catch (e) { return json(400, { error: 'body is not JSON' }); }
  }
  try {
    if (url.pathname === '/__test/stats' && req.method === 'GET') {
      json(200, { ...stats, faults });
      if (url.searchParams.get('reset') === '1') resetStats();
      return;
    }
    if (url.pathname === '/__test/faults' && req.method === 'POST') {
      if (p.reset) faults = { throttle: 0, errors: [], delay_ms: 0, drop: 0, credential_errors: 0 };
      for (const n of ['throttle', 'delay_ms', 'drop', 'credential_errors']) {
        if (p[n] !== undefined) {
          if (!Number.isInteger(p[n]) || p[n] < 0) return json(400, { error: `${n} must be an integer >= 0` });
          faults[n] = p[n];
        }
      }
      if (p.delay_ms !== undefined) releaseDelayed();
      if (p.errors !== undefined) {
        if (!Array.isArray(p.errors)) return json(400, { error: 'errors must be a list' });
        faults.errors.push(...p.errors.map((e) => ({ status: e.status || 500, type: e.type || 'KMSInternalException', message: e.message })));
      }
      if (p.expire_credentials) {
        const past = isoSeconds(Date.now() - 1000);
        for (const c of state.issued) if (Date.parse(c.expiration) > Date.now()) c.expiration = past;
        saveState();
      }
      log(`faults set ${JSON.stringify(faults)}${p.expire_credentials ? ' (issued credentials expired)' : ''}`);
      return json(200, { faults });
    }
    if (url.pathname === '/__test/keys' && req.method === 'GET') return json(200, { keys: publicKeys() });
    if (url.pathname === '/__test/keys' && req.method === 'POST') {
      let created;
      if (p.create) {
        created = newKey({ aliases: p.create.aliases || [], require_context_keys: p.create.require_context_keys, description: p.create.description });
        for (const a of created.aliases) { checkAliasName(a); setAlias(a, created); }
        state.keys.push(created);
      }
      if (p.key !== undefined) {
        const k = resolveKey(p.key);
        if (p.state) {
          if (!['Enabled', 'Disabled', 'PendingDeletion'].includes(p.state)) return json(400, { error: 'state must be Enabled, Disabled or PendingDeletion' });
          k.state = p.state;
          if (p.state === 'PendingDeletion') k.deletion_date = Math.floor(Date.now() / 1000) + 7 * 86400; else delete k.deletion_date;
        }
        if (p.require_context_keys !== undefined) k.require_context_keys = p.require_context_keys || undefined;
      }
      if (p.alias !== undefined) {
        checkAliasName(p.alias);
        if (p.target === null) { for (const x of state.keys) x.aliases = x.aliases.filter((a) => a !== p.alias); }
        else setAlias(p.alias, resolveKey(p.target));
      }
      saveState();
      log(`keys changed ${JSON.stringify({ ...p })}`);
      const out = { keys: publicKeys() };
      if (created) out.created = publicKeys().find((k) => k.id === created.id);
      return json(200, out);
    }
    json(404, { error: `no such control: ${req.method} ${url.pathname}` });
  } catch (e) {
    json(400, { error: e.type ? `${e.type}: ${e.message}` : String(e.message) });
  }
}

// ---------------------------------------------------------------- dispatch
async function handle(req, res) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > 1 << 20) { send(res, 413, {}, 'Request Entity Too Large'); return; }
    chunks.push(c);
  }
  const body = Buffer.concat(chunks);
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname.startsWith('/__test/')) return handleTest(req, res, url, body);
  if (url.pathname.startsWith('/ecs/')) return handleEcs(req, res);
  if (url.pathname === '/latest/api/token' || url.pathname.startsWith('/latest/meta-data/')) return handleImds(req, res, url);
  if (req.method === 'POST' && url.pathname === '/' && req.headers['x-amz-target'] !== undefined) return handleKms(req, res, body);
  if (req.method === 'POST' && url.pathname === '/' && /^application\/x-www-form-urlencoded/.test(req.headers['content-type'] || '')) {
    return handleSts(req, res, body);
  }
  log(`404 ${req.method} ${url.pathname}`);
  send(res, 404, { 'Content-Type': 'text/plain' }, 'Not Found');
}

loadState();
const onRequest = (req, res) => handle(req, res).catch((e) => {
  log(`internal error: ${e.stack}`);
  if (!res.headersSent) send(res, 500, {}, 'internal error'); else res.destroy();
});
const server = args['tls-cert']
  ? https.createServer({ cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) }, onRequest)
  : http.createServer(onRequest);
// Idle keep-alive connections stay open 60 s (Node's default is 5 s), so a
// client's connection reuse can be counted (stats.connections) on a slow machine.
server.keepAliveTimeout = 60000;
server.on('connection', () => { stats.connections++; });
server.listen(Number(args.port || 0), args.host || '127.0.0.1', () => {
  const port = server.address().port;
  fs.writeFileSync(path.join(DIR, 'pid'), `${process.pid}\n`);
  fs.writeFileSync(path.join(DIR, 'port.tmp'), `${port}\n`);
  fs.renameSync(path.join(DIR, 'port.tmp'), path.join(DIR, 'port'));
  log(`listening on ${args.host || '127.0.0.1'}:${port} (${args['tls-cert'] ? 'https' : 'http'}), ${state.keys.length} keys, region ${state.region}`);
});
function stop(sig) {
  log(`stopping (${sig})`);
  try { fs.unlinkSync(path.join(DIR, 'port')); } catch (e) { /* gone */ }
  LOG.end(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
