#!/usr/bin/env node
// A loopback test server that speaks the part of HashiCorp Vault's / OpenBao's
// HTTP API that the vault-transit: provider uses: token auth, AppRole login,
// token lookup/renewal, namespaces, the Transit secrets engine (aes256-gcm96
// and aes128-gcm96 keys: encrypt/decrypt with associated_data, key versions,
// rotation, min_decryption_version), sys/health, and Vault's error bodies.
// Test controls (faults, key changes, statistics) live under /__test/.
// Node built-ins only. Documentation: tests/servers/README-vault.md.
//
//   node vault_server.js --state DIR [--port N] [--config FILE]
//                        [--tls-cert FILE --tls-key FILE]
'use strict';
const http = require('http');
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

// ---------------------------------------------------------------- options
const opts = { port: 0 };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const v = () => { if (i + 1 >= process.argv.length) usage(`${a} needs a value`); return process.argv[++i]; };
  if (a === '--state') opts.state = v();
  else if (a === '--port') opts.port = Number(v());
  else if (a === '--config') opts.config = v();
  else if (a === '--tls-cert') opts.cert = v();
  else if (a === '--tls-key') opts.key = v();
  else usage(`unknown argument ${a}`);
}
function usage(msg) {
  process.stderr.write(`vault_server: ${msg}\nusage: vault_server.js --state DIR [--port N] [--config FILE] [--tls-cert F --tls-key F]\n`);
  process.exit(2);
}
if (!opts.state) usage('--state DIR is required');
if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port');
if (!!opts.cert !== !!opts.key) usage('--tls-cert and --tls-key go together');

const STATE_FILE = path.join(opts.state, 'state.json');
const logStream = fs.createWriteStream(path.join(opts.state, 'server.log'), { flags: 'a', mode: 0o600 });
// Never log a token, a body or a header value: method, path, status, timing only.
function log(msg) { logStream.write(`${new Date().toISOString()} ${msg}\n`); }

// ---------------------------------------------------------------- state
// state = { namespaces: { "<ns>": { policies, transit: { "<mount>": { keys } },
//           auth: { "<mount>": { roles } } } }, tokens: { "<id>": {...} } }
const nowSec = () => Math.floor(Date.now() / 1000);
const rnd = (n) => crypto.randomBytes(n);
const newToken = () => 'hvs.' + rnd(18).toString('base64url');
const newAccessor = () => rnd(12).toString('base64url');

function newKeyVersion(type) {
  return { key: rnd(type === 'aes128-gcm96' ? 16 : 32).toString('base64'), created: nowSec() };
}
function newKey(name, type) {
  type = type || 'aes256-gcm96';
  return { name, type, versions: { 1: newKeyVersion(type) }, latest_version: 1,
           min_decryption_version: 1, min_encryption_version: 0, deletion_allowed: false };
}
const KEY_TYPES = ['aes256-gcm96', 'aes128-gcm96'];

function tokenRecord(t, ns) {
  const ttl = Number(t.ttl || 0);
  return {
    id: t.id, accessor: t.accessor || newAccessor(), policies: t.policies || [],
    namespace: ns, ttl, creation_ttl: ttl, max_ttl: Number(t.max_ttl || 0),
    renewable: t.renewable !== undefined ? !!t.renewable : ttl > 0,
    issued: nowSec(), expire_at: ttl > 0 ? nowSec() + ttl : 0,
    path: t.path || 'auth/token/create', display_name: t.display_name || 'token', meta: t.meta || null,
  };
}

function stateFromConfig(cfg) {
  const st = { namespaces: {}, tokens: {} };
  const nss = cfg.namespaces || { '': {} };
  if (!('' in nss)) nss[''] = {};
  for (const [nsName, nsCfg] of Object.entries(nss)) {
    const ns = trimSlashes(nsName);
    const n = { policies: nsCfg.policies || {}, transit: {}, auth: {} };
    for (const [mount, m] of Object.entries(nsCfg.transit || {})) {
      const keys = {};
      for (const [kname, k] of Object.entries((m && m.keys) || {})) {
        const key = newKey(kname, k.type);
        if (!KEY_TYPES.includes(key.type)) throw new Error(`key ${kname}: unsupported type ${key.type}`);
        for (let v = 2; v <= (k.versions || 1); v++) { key.versions[v] = newKeyVersion(key.type); key.latest_version = v; }
        if (k.min_decryption_version) key.min_decryption_version = k.min_decryption_version;
        if (k.deletion_allowed) key.deletion_allowed = true;
        keys[kname] = key;
      }
      n.transit[trimSlashes(mount)] = { keys, disable_upsert: !!(m && m.disable_upsert) };
    }
    for (const [mount, a] of Object.entries(nsCfg.auth || {})) {
      n.auth[trimSlashes(mount)] = { type: 'approle', roles: (a && a.roles) || {} };
    }
    st.namespaces[ns] = n;
  }
  for (const t of cfg.tokens || []) {
    const ns = trimSlashes(t.namespace || '');
    st.tokens[t.id] = tokenRecord(t, ns);
  }
  return st;
}

function trimSlashes(s) { return String(s || '').replace(/^\/+|\/+$/g, ''); }

let state;
if (fs.existsSync(STATE_FILE)) {
  state = JSON.parse(fs.readFileSync(STATE_FILE, 'utf8'));
} else {
  const cfg = opts.config ? JSON.parse(fs.readFileSync(opts.config, 'utf8'))
    : { tokens: [{ id: 'root', policies: ['root'] }], namespaces: { '': { transit: { transit: { keys: {} } } } } };
  state = stateFromConfig(cfg);
  saveState();
}
function saveState() {
  const tmp = STATE_FILE + '.tmp';
  fs.writeFileSync(tmp, JSON.stringify(state, null, 1), { mode: 0o600 });
  fs.renameSync(tmp, STATE_FILE);
}

// ---------------------------------------------------------------- faults and stats
const faults = { sealed: false, rate_limit: 0, errors: [], delay_ms: 0, drop: 0 };
// Requests being delayed (delay_ms): each entry lets its request go on.
const delayed = new Set();
function delay(ms) {
  return new Promise((resolve) => {
    const go = () => { clearTimeout(timer); delayed.delete(go); resolve(); };
    const timer = setTimeout(go, ms);
    delayed.add(go);
  });
}
let stats;
function resetStats() {
  stats = { total: 0, requests: {}, logins: 0, login_failures: 0, renewals: 0, encrypts: 0, decrypts: 0,
            last_path: null, last_namespace: null, last_associated_data: null };
}
resetStats();
function count(p, status) {
  stats.total++;
  const e = stats.requests[p] || (stats.requests[p] = {});
  e[status] = (e[status] || 0) + 1;
}

// ---------------------------------------------------------------- HTTP helpers
class VaultError extends Error {
  constructor(status, ...errors) { super(errors.join('; ')); this.status = status; this.errors = errors; }
}
const denied = () => new VaultError(403, 'permission denied');
// What Vault answers when a valid token's policies do not allow the path.
const policyDenied = () => new VaultError(403, '1 error occurred:\n\t* permission denied\n\n');
const bad = (msg) => new VaultError(400, msg);

function send(res, status, body) {
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
  return status;
}
function envelope(extra) {
  return Object.assign({ request_id: crypto.randomUUID(), lease_id: '', renewable: false, lease_duration: 0,
                         data: null, wrap_info: null, warnings: null, auth: null }, extra);
}
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = []; let len = 0;
    req.on('data', (c) => { len += c.length; if (len > 1 << 20) { reject(new VaultError(413, 'request too large')); req.destroy(); } else chunks.push(c); });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
// Strict standard base64, as Go's base64.StdEncoding.
function b64decode(s, what) {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    throw bad(`failed to base64-decode ${what}`);
  }
  return Buffer.from(s, 'base64');
}
function parseDuration(v) {
  if (v === undefined || v === null || v === '') return 0;
  if (typeof v === 'number') return Math.floor(v);
  const m = /^(\d+)(s|m|h)?$/.exec(String(v));
  if (!m) throw bad(`invalid duration ${JSON.stringify(String(v))}`);
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 }[m[2] || 's']);
}

// ---------------------------------------------------------------- auth
function lookupToken(req) {
  let id = req.headers['x-vault-token'];
  if (!id && /^Bearer /i.test(req.headers.authorization || '')) id = req.headers.authorization.slice(7);
  const t = id && Object.prototype.hasOwnProperty.call(state.tokens, id) ? state.tokens[id] : null;
  if (!t) throw denied();
  if (t.expire_at && t.expire_at <= nowSec()) throw denied();
  return t;
}
function policyNames(t) { return t.policies.map((p) => (typeof p === 'string' ? p : 'inline')); }
function rulesOf(t) {
  const rules = [];
  for (const p of t.policies) {
    if (p === 'root') return 'root';
    if (typeof p === 'string') {
      const named = (state.namespaces[t.namespace] || {}).policies || {};
      for (const r of named[p] || []) rules.push(r);
    } else rules.push(p);
  }
  return rules;
}
// Vault's path patterns: a trailing "*" is a prefix match, "+" one segment.
function pathMatches(pattern, p) {
  const re = '^' + pattern.split('').map((c) => (c === '*' ? '.*' : c === '+' ? '[^/]+' : c.replace(/[.?^${}()|[\]\\]/g, '\\$&'))).join('') + '$';
  return new RegExp(re).test(p);
}
// Capabilities of all matching rules, "deny" wins (a simplification of
// Vault's most-specific-match: see README-vault.md).
function allowed(t, relPath, cap) {
  const rules = rulesOf(t);
  if (rules === 'root') return true;
  const caps = new Set();
  for (const r of rules) if (pathMatches(r.path, relPath)) for (const c of r.capabilities || []) caps.add(c);
  return !caps.has('deny') && caps.has(cap);
}

// ---------------------------------------------------------------- transit
function keyInfo(k) {
  const keys = {};
  for (const [v, kv] of Object.entries(k.versions)) if (Number(v) >= k.min_decryption_version) keys[v] = kv.created;
  return { name: k.name, type: k.type, keys, latest_version: k.latest_version,
           min_decryption_version: k.min_decryption_version, min_encryption_version: k.min_encryption_version,
           min_available_version: 0, deletion_allowed: k.deletion_allowed, derived: false, exportable: false,
           allow_plaintext_backup: false, auto_rotate_period: 0, imported_key: false,
           supports_encryption: true, supports_decryption: true, supports_derivation: true, supports_signing: false };
}
function rotate(k) { k.latest_version++; k.versions[k.latest_version] = newKeyVersion(k.type); }
function configKey(k, b) {
  if (b.min_decryption_version !== undefined) {
    const v = Number(b.min_decryption_version);
    if (!Number.isInteger(v) || v < 0) throw bad('invalid min_decryption_version');
    if (v > k.latest_version) throw bad('cannot set min decryption version > latest version');
    k.min_decryption_version = v === 0 ? 1 : v;
  }
  if (b.min_encryption_version !== undefined) {
    const v = Number(b.min_encryption_version);
    if (!Number.isInteger(v) || v < 0 || v > k.latest_version) throw bad('invalid min_encryption_version');
    k.min_encryption_version = v;
  }
  if (b.deletion_allowed !== undefined) k.deletion_allowed = !!b.deletion_allowed;
}
const cipherName = (k) => (k.type === 'aes128-gcm96' ? 'aes-128-gcm' : 'aes-256-gcm');

function encrypt(k, b) {
  if (b.plaintext === undefined) throw bad('missing plaintext to encrypt');
  const pt = b64decode(b.plaintext, 'plaintext');
  const aad = b.associated_data ? b64decode(b.associated_data, 'associated_data') : null;
  let ver = Number(b.key_version || 0);
  if (!Number.isInteger(ver) || ver < 0) throw bad('invalid key_version');
  if (ver === 0) ver = k.latest_version;
  if (ver > k.latest_version) throw bad('requested version for encryption is higher than the latest key version');
  if (ver < k.min_encryption_version) throw bad('requested version for encryption is less than the minimum encryption key version');
  const nonce = rnd(12);
  const c = crypto.createCipheriv(cipherName(k), Buffer.from(k.versions[ver].key, 'base64'), nonce);
  if (aad) c.setAAD(aad);
  const ct = Buffer.concat([c.update(pt), c.final()]);
  const blob = Buffer.concat([nonce, ct, c.getAuthTag()]);
  return { ciphertext: `vault:v${ver}:${blob.toString('base64')}`, key_version: ver };
}
function decrypt(k, b) {
  if (b.ciphertext === undefined || b.ciphertext === '') throw bad('missing ciphertext to decrypt');
  const s = String(b.ciphertext);
  if (!s.startsWith('vault:')) throw bad('invalid ciphertext: no prefix');
  const m = /^vault:v(\d+):(.*)$/s.exec(s);
  if (!m) throw bad('invalid ciphertext: wrong number of fields');
  let ver = Number(m[1]);
  if (ver === 0) ver = 1;
  if (ver < k.min_decryption_version) throw bad('ciphertext or signature version is disallowed by policy (too old)');
  if (!k.versions[ver]) throw bad('invalid key version');
  const blob = b64decode(m[2], 'ciphertext');
  const aad = b.associated_data ? b64decode(b.associated_data, 'associated_data') : null;
  if (blob.length < 12 + 16) throw bad('invalid ciphertext: unable to decrypt');
  const d = crypto.createDecipheriv(cipherName(k), Buffer.from(k.versions[ver].key, 'base64'), blob.subarray(0, 12));
  if (aad) d.setAAD(aad);
  d.setAuthTag(blob.subarray(blob.length - 16));
  try {
    const pt = Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]);
    return { plaintext: pt.toString('base64') };
  } catch (_e) {
    throw bad('cipher: message authentication failed');
  }
}

// ---------------------------------------------------------------- routing
// Splits "/v1/<path>" plus X-Vault-Namespace into [namespace, path in it]:
// the header and a leading path prefix are joined; the longest known
// namespace that prefixes the joined path wins.
function resolveNamespace(hdrNs, p) {
  const full = hdrNs ? `${hdrNs}/${p}` : p;
  let best = '';
  for (const ns of Object.keys(state.namespaces)) {
    if (ns && full.startsWith(ns + '/') && ns.length > best.length) best = ns;
  }
  if (hdrNs && !(best === hdrNs || best.startsWith(hdrNs + '/'))) throw new VaultError(404, 'namespace not found');
  return [best, best ? full.slice(best.length + 1) : full];
}
function findMount(mounts, p) {
  let best = null;
  for (const m of Object.keys(mounts)) if (p.startsWith(m + '/') && (!best || m.length > best.length)) best = m;
  return best;
}

function handleHealth(res, query) {
  const sealed = faults.sealed;
  const status = sealed ? Number(query.get('sealedcode') || 503) : Number(query.get('activecode') || 200);
  return send(res, status, { initialized: true, sealed, standby: false, performance_standby: false,
    replication_performance_mode: 'disabled', replication_dr_mode: 'disabled', server_time_utc: nowSec(),
    version: '1.15.6', cluster_name: 'orgcrypt-test', cluster_id: '00000000-0000-0000-0000-000000000000' });
}

function tokenAuth(t, leaseDuration) {
  return { client_token: t.id, accessor: t.accessor, policies: policyNames(t), token_policies: policyNames(t),
           metadata: t.meta, lease_duration: leaseDuration, renewable: t.renewable, entity_id: '',
           token_type: 'service', orphan: true, mfa_requirement: null, num_uses: 0 };
}

async function handleV1(req, res, url, body) {
  const raw = url.pathname.slice('/v1/'.length);
  const hdrNs = trimSlashes(req.headers['x-vault-namespace'] || '');
  stats.last_namespace = req.headers['x-vault-namespace'] === undefined ? null : req.headers['x-vault-namespace'];
  const [ns, p] = resolveNamespace(hdrNs, trimSlashes(raw));
  const nsState = state.namespaces[ns];
  const method = req.method === 'GET' && /^(1|t|true)$/i.test(url.searchParams.get('list') || '') ? 'LIST' : req.method;
  const write = method === 'POST' || method === 'PUT';

  // Unauthenticated: AppRole login.
  const am = p.startsWith('auth/') ? findMount(nsState.auth, p.slice(5)) : null;
  if (am && p === `auth/${am}/login` && write) {
    const roleId = body.role_id, secretId = body.secret_id;
    if (!roleId) throw bad('missing role_id');
    const entry = Object.entries(nsState.auth[am].roles).find(([, r]) => r.role_id === roleId);
    if (!entry || !secretId || !(entry[1].secret_ids || []).includes(secretId)) {
      stats.login_failures++;
      throw bad('invalid role or secret ID');
    }
    const [name, role] = entry;
    const t = tokenRecord({ id: newToken(), policies: role.token_policies || [], ttl: role.token_ttl || 2764800,
                            max_ttl: role.token_max_ttl || 0, renewable: true, path: p,
                            display_name: am, meta: { role_name: name } }, ns);
    state.tokens[t.id] = t;
    saveState();
    stats.logins++;
    return send(res, 200, envelope({ auth: tokenAuth(t, t.ttl) }));
  }

  const t = lookupToken(req);
  // A token works in its own namespace and the ones below it; its policy
  // paths are relative to its namespace.
  if (!(t.namespace === '' || ns === t.namespace || ns.startsWith(t.namespace + '/'))) throw denied();
  const rel = (t.namespace === '' ? ns : ns.slice(t.namespace.length + 1));
  const relPath = rel ? `${rel}/${p}` : p;
  const need = (cap) => { if (!allowed(t, relPath, cap)) throw policyDenied(); };

  // The default policy: every token may look itself up and renew itself.
  if (p === 'auth/token/lookup-self' && (method === 'GET' || write)) {
    const ttl = t.expire_at ? Math.max(0, t.expire_at - nowSec()) : 0;
    return send(res, 200, envelope({ data: {
      accessor: t.accessor, creation_time: t.issued, creation_ttl: t.creation_ttl, display_name: t.display_name,
      entity_id: '', expire_time: t.expire_at ? new Date(t.expire_at * 1000).toISOString() : null,
      explicit_max_ttl: t.max_ttl, id: t.id, issue_time: new Date(t.issued * 1000).toISOString(), meta: t.meta,
      num_uses: 0, orphan: true, path: t.path, policies: policyNames(t), renewable: t.renewable, ttl, type: 'service',
      namespace_path: t.namespace ? t.namespace + '/' : '' } }));
  }
  if (p === 'auth/token/renew-self' && write) {
    if (!t.renewable || !t.expire_at) throw bad('lease is not renewable');
    let ttl = parseDuration(body.increment) || t.creation_ttl;
    let warnings = null;
    if (t.max_ttl && nowSec() + ttl > t.issued + t.max_ttl) {
      ttl = Math.max(0, t.issued + t.max_ttl - nowSec());
      warnings = ['TTL of "' + ttl + 's" exceeded the effective max_ttl; TTL value is capped accordingly'];
    }
    t.expire_at = nowSec() + ttl;
    saveState();
    stats.renewals++;
    return send(res, 200, envelope({ auth: tokenAuth(t, ttl), warnings }));
  }
  if (p === 'auth/token/revoke-self' && write) {
    delete state.tokens[t.id];
    saveState();
    return send(res, 204);
  }

  const mount = findMount(nsState.transit, p);
  if (!mount) throw new VaultError(404, `no handler for route "${ns ? ns + '/' : ''}${p}". route entry not found.`);
  const keys = nsState.transit[mount].keys;
  const sub = p.slice(mount.length + 1);
  let m;
  if (sub === 'config/keys' && (method === 'GET' || write)) {
    need(method === 'GET' ? 'read' : 'update');
    if (write && body.disable_upsert !== undefined) { nsState.transit[mount].disable_upsert = !!body.disable_upsert; saveState(); }
    return send(res, 200, envelope({ data: { disable_upsert: !!nsState.transit[mount].disable_upsert } }));
  }
  if (sub === 'keys' && method === 'LIST') {
    need('list');
    const names = Object.keys(keys).sort();
    if (!names.length) throw new VaultError(404);
    return send(res, 200, envelope({ data: { keys: names } }));
  }
  if ((m = /^keys\/([^/]+)$/.exec(sub))) {
    const name = m[1], k = keys[name];
    if (method === 'GET') {
      need('read');
      if (!k) throw new VaultError(404);
      return send(res, 200, envelope({ data: keyInfo(k) }));
    }
    if (write) {
      need(k ? 'update' : 'create');
      const type = body.type || 'aes256-gcm96';
      if (!KEY_TYPES.includes(type)) throw bad(`unknown key type ${type}`);
      if (!k) { keys[name] = newKey(name, type); saveState(); }
      return send(res, 200, envelope({ data: keyInfo(keys[name]) }));
    }
    if (method === 'DELETE') {
      need('delete');
      if (!k) return send(res, 204);
      if (!k.deletion_allowed) throw bad('deletion is not allowed for this key');
      delete keys[name]; saveState();
      return send(res, 204);
    }
  }
  if ((m = /^keys\/([^/]+)\/(rotate|config)$/.exec(sub)) && write) {
    need('update');
    const k = keys[m[1]];
    if (!k) throw bad('key not found');
    if (m[2] === 'rotate') rotate(k); else configKey(k, body);
    saveState();
    return send(res, 200, envelope({ data: keyInfo(k) }));
  }
  if ((m = /^(encrypt|decrypt)\/([^/]+)$/.exec(sub)) && write) {
    const [, op, name] = m;
    if (body.batch_input !== undefined) throw bad('batch_input is not supported by this test server');
    stats.last_associated_data = !!body.associated_data;
    if (op === 'encrypt') {
      // Vault's existence check: encrypting with a missing key creates it
      // (upsert), which needs the "create" capability.
      need(keys[name] ? 'update' : 'create');
      let k = keys[name];
      // Vault >= 1.13: transit/config/keys disable_upsert turns that off.
      if (!k && nsState.transit[mount].disable_upsert) throw bad('encryption key not found');
      if (!k) {
        const type = body.type || 'aes256-gcm96';
        if (!KEY_TYPES.includes(type)) throw bad(`unknown key type ${type}`);
        k = keys[name] = newKey(name, type); saveState();
      }
      stats.encrypts++;
      return send(res, 200, envelope({ data: encrypt(k, body) }));
    }
    need('update');
    const k = keys[name];
    if (!k) throw bad('encryption key not found');
    stats.decrypts++;
    return send(res, 200, envelope({ data: decrypt(k, body) }));
  }
  throw new VaultError(405, `unsupported operation`);
}

// ---------------------------------------------------------------- /__test/
function handleTest(req, res, url, body) {
  const p = url.pathname;
  if (p === '/__test/faults' && req.method === 'POST') {
    if (body.reset) Object.assign(faults, { sealed: false, rate_limit: 0, errors: [], delay_ms: 0, drop: 0 });
    if (body.sealed !== undefined) faults.sealed = !!body.sealed;
    if (body.rate_limit !== undefined) faults.rate_limit = Number(body.rate_limit) || 0;
    if (body.errors !== undefined) faults.errors.push(...body.errors);
    if (body.delay_ms !== undefined || body.reset) {
      faults.delay_ms = Number(body.delay_ms) || 0;
      for (const go of [...delayed]) go(); // a new delay_ms releases the requests held by the old one
    }
    if (body.drop !== undefined) faults.drop = Number(body.drop) || 0;
    if (body.expire_tokens) {
      const now = nowSec();
      for (const t of Object.values(state.tokens)) if (t.expire_at) t.expire_at = now;
      saveState();
    }
    return send(res, 200, faults);
  }
  if (p === '/__test/faults' && req.method === 'GET') return send(res, 200, faults);
  if (p === '/__test/stats' && req.method === 'GET') return send(res, 200, Object.assign({ delayed_now: delayed.size }, stats));
  if (p === '/__test/stats' && req.method === 'DELETE') { resetStats(); return send(res, 204); }
  if (p === '/__test/keys' && req.method === 'POST') {
    const ns = state.namespaces[trimSlashes(body.namespace || '')];
    const mount = ns && ns.transit[trimSlashes(body.mount || 'transit')];
    if (!mount) return send(res, 404, { errors: ['no such namespace or mount'] });
    const name = body.key;
    if (body.create && !mount.keys[name]) mount.keys[name] = newKey(name, body.type);
    const k = mount.keys[name];
    if (!k) return send(res, 404, { errors: ['no such key'] });
    try {
      if (body.delete) { delete mount.keys[name]; saveState(); return send(res, 200, { deleted: name }); }
      if (body.rotate) rotate(k);
      configKey(k, body);
    } catch (e) { return send(res, 400, { errors: e.errors || [String(e)] }); }
    saveState();
    return send(res, 200, keyInfo(k));
  }
  return send(res, 404, { errors: ['unknown test control'] });
}

// ---------------------------------------------------------------- server
async function handle(req, res) {
  const started = Date.now();
  const url = new URL(req.url, 'http://localhost');
  let status;
  try {
    const text = await readBody(req);
    let body = {};
    if (text.trim()) {
      try { body = JSON.parse(text); } catch (e) { throw bad(`failed to parse JSON input: ${e.message}`); }
      if (!body || typeof body !== 'object') body = {};
    }
    if (url.pathname.startsWith('/__test/')) { status = handleTest(req, res, url, body); return; }
    if (!url.pathname.startsWith('/v1/')) throw new VaultError(404);
    const isHealth = trimSlashes(url.pathname) === 'v1/sys/health';
    if (!isHealth) {
      stats.last_path = url.pathname;
      if (faults.drop > 0) { faults.drop--; status = 'dropped'; req.socket.destroy(); return; }
      if (faults.delay_ms > 0) await delay(faults.delay_ms);
      if (faults.rate_limit > 0) {
        faults.rate_limit--;
        throw new VaultError(429, `request path "${trimSlashes(url.pathname.slice(4))}": rate limit quota exceeded`);
      }
      if (faults.errors.length) {
        const e = faults.errors.shift();
        throw new VaultError(Number(e.status) || 500, e.message || 'internal error');
      }
      if (faults.sealed) throw new VaultError(503, 'Vault is sealed');
    }
    if (isHealth) { status = handleHealth(res, url.searchParams); return; }
    status = await handleV1(req, res, url, body);
  } catch (e) {
    if (e instanceof VaultError) status = send(res, e.status, { errors: e.errors });
    else { log(`internal error: ${e && e.stack}`); status = send(res, 500, { errors: ['internal error'] }); }
  } finally {
    if (!url.pathname.startsWith('/__test/')) count(url.pathname, status);
    log(`${req.method} ${url.pathname} ${status} ${Date.now() - started}ms`);
  }
}

const server = opts.cert
  ? https.createServer({ cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) }, handle)
  : http.createServer(handle);
server.listen(opts.port, '127.0.0.1', () => {
  const port = server.address().port;
  fs.writeFileSync(path.join(opts.state, 'pid'), `${process.pid}\n`);
  fs.writeFileSync(path.join(opts.state, 'port.tmp'), `${port}\n`);
  fs.renameSync(path.join(opts.state, 'port.tmp'), path.join(opts.state, 'port'));
  log(`listening on 127.0.0.1:${port} (${opts.cert ? 'https' : 'http'}), pid ${process.pid}`);
});
server.on('error', (e) => { log(`server error: ${e.message}`); process.stderr.write(`vault_server: ${e.message}\n`); process.exit(1); });
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { log(`stopping (${sig})`); server.close(); try { fs.unlinkSync(path.join(opts.state, 'port')); } catch (_e) { /* gone */ } process.exit(0); });
}
