#!/usr/bin/env node
// Checks the loopback Vault test server (vault_server.js) by driving it with
// node-vault, an independent client of Vault's HTTP API. Prints one
// "ok - ..." / "not ok - ..." line per check and "# done" at the end;
// tests/integration/vault_test_server.sh counts them.
//
//   node check_vault.js --phase main|restart|tls --addr URL --config FILE
//                       --state DIR --work DIR [--ca FILE]
// main: everything but TLS, saves a ciphertext in WORK for the restart phase;
// restart: that ciphertext decrypts after a server restart; tls: HTTPS with
// the CA (and refused without it).
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const https = require('https');
const crypto = require('crypto');
const nodeVault = require('node-vault');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const cfg = JSON.parse(fs.readFileSync(args.config, 'utf8'));
const ca = args.ca ? fs.readFileSync(args.ca) : undefined;
const tokenId = (pred) => cfg.tokens.find(pred).id;
const ROOT = tokenId((t) => t.policies.includes('root'));
const role = cfg.namespaces[''].auth.approle.roles.orgcrypt;

let failures = 0;
function ok(cond, name, extra) {
  if (cond) console.log(`ok - ${name}`);
  else { failures++; console.log(`not ok - ${name}${extra !== undefined ? ': ' + JSON.stringify(extra) : ''}`); }
}
const b64 = (s) => Buffer.from(s).toString('base64');
const client = (o = {}) => nodeVault(Object.assign({ endpoint: args.addr, token: ROOT, requestOptions: ca ? { ca } : {} }, o));
// Runs p; returns {status, message} of the error it fails with, or {status: 200, value}.
async function outcome(p) {
  try { return { status: 200, value: await p }; } catch (e) {
    return { status: e.response ? e.response.statusCode : 0, message: e.message, code: e.code };
  }
}
// The server's unauthenticated test controls.
function ctl(method, p, body) {
  const u = new URL(p, args.addr);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method, ca, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let s = ''; res.on('data', (c) => { s += c; });
      res.on('end', () => resolve(s ? JSON.parse(s) : null));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

async function main() {
  const v = client();
  const h = await outcome(v.health());
  ok(h.status === 200 && h.value.initialized === true && h.value.sealed === false, 'health() answers initialized and unsealed', h);

  // --- token auth
  const ls = await outcome(v.tokenLookupSelf());
  ok(ls.status === 200 && ls.value.data.id === ROOT && ls.value.data.policies.includes('root'), 'tokenLookupSelf with the root token', ls);
  const bogus = await outcome(client({ token: 'hvs.not-a-token' }).tokenLookupSelf());
  ok(bogus.status === 403 && bogus.message === 'permission denied', 'an unknown token: 403 permission denied', bogus);

  // --- transit encrypt/decrypt with associated_data
  const pt = b64('a data key of 32 bytes, for now.');
  const aad = b64('org=42;version=1');
  const enc = await outcome(v.write('transit/encrypt/kek', { plaintext: pt, associated_data: aad }));
  const ct = enc.value && enc.value.data.ciphertext;
  ok(enc.status === 200 && /^vault:v1:[A-Za-z0-9+/]+=*$/.test(ct) && enc.value.data.key_version === 1, 'encrypt returns vault:v1:<base64> and key_version 1', enc);
  const dec = await outcome(v.write('transit/decrypt/kek', { ciphertext: ct, associated_data: aad }));
  ok(dec.status === 200 && dec.value.data.plaintext === pt, 'decrypt with the same associated_data returns the plaintext', dec);
  let st = await ctl('GET', '/__test/stats');
  ok(st.last_associated_data === true && st.encrypts >= 1 && st.decrypts >= 1, 'stats saw associated_data and count encrypts/decrypts', st);
  const wrongAad = await outcome(v.write('transit/decrypt/kek', { ciphertext: ct, associated_data: b64('org=43;version=1') }));
  ok(wrongAad.status === 400 && wrongAad.message === 'cipher: message authentication failed', 'a wrong associated_data: 400 cipher: message authentication failed', wrongAad);
  const noAad = await outcome(v.write('transit/decrypt/kek', { ciphertext: ct }));
  ok(noAad.status === 400 && noAad.message === 'cipher: message authentication failed', 'no associated_data where one was used: 400', noAad);
  st = await ctl('GET', '/__test/stats');
  ok(st.last_associated_data === false, 'stats saw the request without associated_data', st);
  const blob = Buffer.from(ct.slice('vault:v1:'.length), 'base64');
  blob[14] ^= 1;
  const tampered = await outcome(v.write('transit/decrypt/kek', { ciphertext: 'vault:v1:' + blob.toString('base64'), associated_data: aad }));
  ok(tampered.status === 400 && tampered.message === 'cipher: message authentication failed', 'a tampered ciphertext: 400 cipher: message authentication failed', tampered);
  const badB64 = await outcome(v.write('transit/encrypt/kek', { plaintext: 'not base64!' }));
  ok(badB64.status === 400, 'a plaintext that is not base64: 400', badB64);

  // The ciphertext layout is Vault's: nonce(12) || ciphertext || tag(16) under AES-256-GCM.
  const state = JSON.parse(fs.readFileSync(path.join(args.state, 'state.json'), 'utf8'));
  const keyBytes = Buffer.from(state.namespaces[''].transit.transit.keys.kek.versions['1'].key, 'base64');
  const raw = Buffer.from(ct.slice('vault:v1:'.length), 'base64');
  let layout;
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', keyBytes, raw.subarray(0, 12));
    d.setAAD(Buffer.from(aad, 'base64'));
    d.setAuthTag(raw.subarray(raw.length - 16));
    layout = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('base64');
  } catch (e) { layout = String(e); }
  ok(layout === pt, 'the ciphertext is nonce || AES-256-GCM ciphertext || tag', layout);
  fs.writeFileSync(path.join(args.work, 'saved.json'), JSON.stringify({ ct, pt, aad }));

  // --- keys: read, missing, rotate, old versions, min_decryption_version, delete
  const rk = await outcome(v.read('transit/keys/kek'));
  ok(rk.status === 200 && rk.value.data.type === 'aes256-gcm96' && rk.value.data.latest_version === 1, 'read transit/keys/kek', rk);
  const missing = await outcome(v.read('transit/keys/nope'));
  ok(missing.status === 404, 'read of a missing key: 404', missing);
  const decMissing = await outcome(v.write('transit/decrypt/nope', { ciphertext: ct }));
  ok(decMissing.status === 400 && decMissing.message === 'encryption key not found', 'decrypt with a missing key: 400 encryption key not found', decMissing);
  const rot = await outcome(v.write('transit/keys/kek/rotate', {}));
  ok(rot.status === 200 && rot.value.data.latest_version === 2, 'rotate: latest_version 2', rot);
  const enc2 = await outcome(v.write('transit/encrypt/kek', { plaintext: pt, associated_data: aad }));
  ok(enc2.status === 200 && enc2.value.data.ciphertext.startsWith('vault:v2:') && enc2.value.data.key_version === 2, 'after rotation encrypt uses v2', enc2);
  const encV1 = await outcome(v.write('transit/encrypt/kek', { plaintext: pt, key_version: 1 }));
  ok(encV1.status === 200 && encV1.value.data.ciphertext.startsWith('vault:v1:'), 'key_version 1 encrypts with v1', encV1);
  const decOld = await outcome(v.write('transit/decrypt/kek', { ciphertext: ct, associated_data: aad }));
  ok(decOld.status === 200 && decOld.value.data.plaintext === pt, 'the v1 ciphertext still decrypts after rotation', decOld);
  const cfgMin = await outcome(v.write('transit/keys/kek/config', { min_decryption_version: 2 }));
  ok(cfgMin.status === 200 && cfgMin.value.data.min_decryption_version === 2, 'config min_decryption_version 2', cfgMin);
  const tooOld = await outcome(v.write('transit/decrypt/kek', { ciphertext: ct, associated_data: aad }));
  ok(tooOld.status === 400 && tooOld.message === 'ciphertext or signature version is disallowed by policy (too old)', 'v1 refused below min_decryption_version: 400 (too old)', tooOld);
  const back = await ctl('POST', '/__test/keys', { mount: 'transit', key: 'kek', min_decryption_version: 1 });
  const decBack = await outcome(v.write('transit/decrypt/kek', { ciphertext: ct, associated_data: aad }));
  ok(back.min_decryption_version === 1 && decBack.status === 200, '/__test/keys lowers min_decryption_version again', [back, decBack]);
  const tr = await ctl('POST', '/__test/keys', { mount: 'transit', key: 'kek', rotate: true });
  ok(tr.latest_version === 3, '/__test/keys rotates', tr);
  const del = await outcome(v.delete('transit/keys/old'));
  ok(del.status === 400 && del.message === 'deletion is not allowed for this key', 'delete without deletion_allowed: 400', del);
  await v.write('transit/keys/old/config', { deletion_allowed: true });
  const del2 = await outcome(v.delete('transit/keys/old'));
  const gone = await outcome(v.read('transit/keys/old'));
  ok(del2.status === 200 && gone.status === 404, 'delete with deletion_allowed, then 404', [del2, gone]);
  const created = await outcome(v.write('transit/keys/fresh', { type: 'aes256-gcm96' }));
  ok(created.status === 200 && created.value.data.latest_version === 1, 'create a key with type aes256-gcm96', created);
  const unknown = await outcome(v.read('nosuchmount/keys/x'));
  ok(unknown.status === 404, 'an unknown path: 404', unknown);

  // --- policies: a token without the capability
  const encOnly = client({ token: tokenId((t) => t.policies.includes('encrypt-only')) });
  const e1 = await outcome(encOnly.write('transit/encrypt/kek', { plaintext: pt }));
  ok(e1.status === 200, 'the encrypt-only token encrypts', e1);
  const e2 = await outcome(encOnly.write('transit/decrypt/kek', { ciphertext: e1.value && e1.value.data.ciphertext }));
  ok(e2.status === 403 && /permission denied/.test(e2.message), 'the encrypt-only token may not decrypt: 403 permission denied', e2);
  const e3 = await outcome(encOnly.write('transit/encrypt/upserted', { plaintext: pt }));
  ok(e3.status === 403, 'encrypt with a missing key needs the create capability: 403', e3);
  const up = await outcome(v.write('transit/encrypt/upserted', { plaintext: pt }));
  const upk = await outcome(v.read('transit/keys/upserted'));
  ok(up.status === 200 && upk.status === 200 && upk.value.data.type === 'aes256-gcm96', 'encrypt with create capability upserts an aes256-gcm96 key', [up, upk]);

  // --- AppRole login, lookup, renewal, expiry
  const ar = client({ token: undefined });
  const badLogin = await outcome(ar.approleLogin({ role_id: role.role_id, secret_id: 'wrong' }));
  ok(badLogin.status === 400 && badLogin.message === 'invalid role or secret ID', 'AppRole login with a wrong secret_id: 400 invalid role or secret ID', badLogin);
  const login = await outcome(ar.approleLogin({ role_id: role.role_id, secret_id: role.secret_ids[0] }));
  const auth = login.value && login.value.auth;
  ok(login.status === 200 && /^hvs\./.test(auth.client_token) && auth.accessor && auth.renewable === true &&
     auth.lease_duration === role.token_ttl && auth.policies.includes('orgcrypt'), 'approleLogin returns client_token, accessor, policies, lease_duration, renewable', auth);
  ok(ar.token === auth.client_token, 'node-vault took the token from the login');
  const ae = await outcome(ar.write('transit/encrypt/kek', { plaintext: pt, associated_data: aad }));
  const ad = await outcome(ar.write('transit/decrypt/kek', { ciphertext: ae.value && ae.value.data.ciphertext, associated_data: aad }));
  ok(ae.status === 200 && ad.status === 200 && ad.value.data.plaintext === pt, 'the AppRole token encrypts and decrypts', [ae, ad]);
  const arRead = await outcome(ar.read('transit/keys/kek'));
  ok(arRead.status === 403, 'the AppRole token may not read keys (not in its policy): 403', arRead);
  const als = await outcome(ar.tokenLookupSelf());
  ok(als.status === 200 && als.value.data.ttl > 0 && als.value.data.ttl <= role.token_ttl && als.value.data.renewable === true &&
     als.value.data.meta.role_name === 'orgcrypt', 'tokenLookupSelf of the AppRole token: ttl, renewable, role_name', als);
  const ren = await outcome(ar.tokenRenewSelf({ increment: '60s' }));
  ok(ren.status === 200 && ren.value.auth.lease_duration === 60 && ren.value.auth.client_token === auth.client_token, 'tokenRenewSelf increment 60s: lease_duration 60', ren);
  const renCap = await outcome(ar.tokenRenewSelf({ increment: 100000 }));
  ok(renCap.status === 200 && renCap.value.auth.lease_duration <= role.token_max_ttl && renCap.value.warnings, 'renewal beyond token_max_ttl is capped, with a warning', renCap);
  st = await ctl('GET', '/__test/stats');
  ok(st.logins === 1 && st.login_failures === 1 && st.renewals === 2, 'stats count logins and renewals', st);
  await ctl('POST', '/__test/faults', { expire_tokens: true });
  const expired = await outcome(ar.write('transit/encrypt/kek', { plaintext: pt }));
  ok(expired.status === 403 && expired.message === 'permission denied', 'an expired token: 403 permission denied', expired);
  const renExp = await outcome(ar.tokenRenewSelf());
  ok(renExp.status === 403, 'an expired token cannot be renewed: 403', renExp);
  const relogin = await outcome(ar.approleLogin({ role_id: role.role_id, secret_id: role.secret_ids[0] }));
  const ae2 = await outcome(ar.write('transit/encrypt/kek', { plaintext: pt }));
  ok(relogin.status === 200 && ae2.status === 200, 'a new login after expiry works', [relogin, ae2]);
  const rootStill = await outcome(v.tokenLookupSelf());
  ok(rootStill.status === 200, 'a token without TTL does not expire', rootStill);

  // --- namespaces: header and path prefix; a mount path with a slash
  const nsv = client({ namespace: 'team-a' });
  const ne = await outcome(nsv.write('transit/encrypt/kek', { plaintext: pt, associated_data: aad }));
  st = await ctl('GET', '/__test/stats');
  ok(ne.status === 200 && st.last_namespace === 'team-a', 'encrypt in namespace team-a (X-Vault-Namespace)', [ne, st.last_namespace]);
  const nd = await outcome(client({ pathPrefix: '/team-a' }).write('transit/decrypt/kek', { ciphertext: ne.value && ne.value.data.ciphertext, associated_data: aad }));
  ok(nd.status === 200 && nd.value.data.plaintext === pt, 'decrypt in team-a with the path-prefix form /v1/team-a/transit/...', nd);
  const nx = await outcome(v.write('transit/decrypt/kek', { ciphertext: ne.value && ne.value.data.ciphertext, associated_data: aad }));
  ok(nx.status === 400, 'the root namespace key is another key: 400', nx);
  const nsTok = tokenId((t) => t.namespace === 'team-a');
  const nt = await outcome(client({ token: nsTok, namespace: 'team-a' }).write('transit/encrypt/kek', { plaintext: pt }));
  ok(nt.status === 200, 'a team-a token works in team-a', nt);
  const ntRoot = await outcome(client({ token: nsTok }).write('transit/encrypt/kek', { plaintext: pt }));
  ok(ntRoot.status === 403, 'a team-a token is denied in the root namespace: 403', ntRoot);
  const nsMissing = await outcome(client({ namespace: 'no-such-ns' }).write('transit/encrypt/kek', { plaintext: pt }));
  ok(nsMissing.status === 404, 'an unknown namespace: 404', nsMissing);
  const se = await outcome(v.write('team/transit/encrypt/kek2', { plaintext: pt, associated_data: aad }));
  const sd = await outcome(ar.write('team/transit/decrypt/kek2', { ciphertext: se.value && se.value.data.ciphertext, associated_data: aad }));
  ok(se.status === 200 && sd.status === 200 && sd.value.data.plaintext === pt, 'the mount team/transit (a slash in its path)', [se, sd]);
  const nu = await outcome(v.write('team/transit/encrypt/not-there', { plaintext: pt }));
  const nuCfg = await outcome(v.read('team/transit/config/keys'));
  ok(nu.status === 400 && nu.message === 'encryption key not found' && nuCfg.value.data.disable_upsert === true,
     'a mount with disable_upsert: encrypt with a missing key is 400 encryption key not found', [nu, nuCfg]);

  // --- faults: sealed, 429, 500, dropped connection, delay
  await ctl('POST', '/__test/faults', { sealed: true });
  const sealed = await outcome(v.write('transit/encrypt/kek', { plaintext: pt }));
  ok(sealed.status === 503 && sealed.message === 'Vault is sealed', 'sealed: 503 Vault is sealed', sealed);
  const hs = await outcome(v.health());
  ok(hs.status === 200 && hs.value.sealed === true, 'health() reports sealed (503 is not an error for node-vault)', hs);
  await ctl('POST', '/__test/faults', { sealed: false, rate_limit: 2 });
  const r1 = await outcome(v.write('transit/encrypt/kek', { plaintext: pt }));
  const r2 = await outcome(v.write('transit/encrypt/kek', { plaintext: pt }));
  const r3 = await outcome(v.write('transit/encrypt/kek', { plaintext: pt }));
  ok(r1.status === 429 && r2.status === 429 && /rate limit quota exceeded/.test(r1.message) && r3.status === 200, 'rate_limit 2: two 429s, then 200', [r1, r2, r3]);
  await ctl('POST', '/__test/faults', { errors: [{ status: 500 }, { status: 502, message: 'upstream' }] });
  const x1 = await outcome(v.write('transit/encrypt/kek', { plaintext: pt }));
  const x2 = await outcome(v.write('transit/encrypt/kek', { plaintext: pt }));
  const x3 = await outcome(v.write('transit/encrypt/kek', { plaintext: pt }));
  ok(x1.status === 500 && x2.status === 502 && x2.message === 'upstream' && x3.status === 200, 'errors [500, 502]: once each, then 200', [x1, x2, x3]);
  await ctl('POST', '/__test/faults', { drop: 1 });
  const dr = await outcome(v.write('transit/encrypt/kek', { plaintext: pt }));
  const dr2 = await outcome(v.write('transit/encrypt/kek', { plaintext: pt }));
  ok(dr.status === 0 && dr2.status === 200, 'drop 1: the connection closes without an answer, then 200', [dr, dr2]);
  // delay_ms: a request held (up to 60 s) does not hold up others; a new
  // delay_ms releases it. Waits for states, not for times.
  await ctl('POST', '/__test/faults', { delay_ms: 60000 });
  let slowDone = false;
  const slow = outcome(v.write('transit/encrypt/kek', { plaintext: pt })).then((r) => { slowDone = true; return r; });
  let held = 0;
  for (let i = 0; i < 200 && held < 1; i++) {
    await new Promise((r) => setTimeout(r, 50));
    held = (await ctl('GET', '/__test/stats')).delayed_now;
  }
  const quick = await outcome(v.health());
  const heldStill = (await ctl('GET', '/__test/stats')).delayed_now;
  ok(held === 1 && quick.status === 200 && !slowDone && heldStill === 1, 'a delayed request does not hold up others (health answers meanwhile)', [held, quick.status, slowDone]);
  await ctl('POST', '/__test/faults', { delay_ms: 0 });
  const sr = await slow;
  ok(sr.status === 200 && (await ctl('GET', '/__test/stats')).delayed_now === 0, 'setting delay_ms again releases the delayed request', sr);
  const lk = await outcome(client({ noCustomHTTPVerbs: true }).list('transit/keys'));
  ok(lk.status === 200 && lk.value.data.keys.includes('kek') && lk.value.data.keys.includes('upserted'), 'list transit/keys (GET ?list=true)', lk);
  st = await ctl('GET', '/__test/stats');
  ok(st.requests['/v1/transit/encrypt/kek']['429'] === 2 && st.requests['/v1/transit/encrypt/kek']['503'] === 1, 'stats count per path and status', st.requests['/v1/transit/encrypt/kek']);
}

async function restart() {
  const saved = JSON.parse(fs.readFileSync(path.join(args.work, 'saved.json'), 'utf8'));
  const v = client();
  const d = await outcome(v.write('transit/decrypt/kek', { ciphertext: saved.ct, associated_data: saved.aad }));
  ok(d.status === 200 && d.value.data.plaintext === saved.pt, 'after a restart the saved v1 ciphertext decrypts (keys kept in state.json)', d);
  const k = await outcome(v.read('transit/keys/kek'));
  ok(k.status === 200 && k.value.data.latest_version === 4, 'after a restart the key keeps its versions (v4: the suite rotated with vault_keys)', k);
  const fresh = await outcome(v.read('transit/keys/fresh'));
  ok(fresh.status === 200, 'after a restart a key created through the API is still there', fresh);
}

async function tls() {
  const v = client();
  const h = await outcome(v.health());
  ok(h.status === 200 && h.value.sealed === false, 'HTTPS: health() with the CA', h);
  const e = await outcome(v.write('transit/encrypt/kek', { plaintext: b64('x'), associated_data: b64('y') }));
  const d = await outcome(v.write('transit/decrypt/kek', { ciphertext: e.value && e.value.data.ciphertext, associated_data: b64('y') }));
  ok(e.status === 200 && d.status === 200 && d.value.data.plaintext === b64('x'), 'HTTPS: encrypt and decrypt with the CA', [e, d]);
  const noCa = await outcome(nodeVault({ endpoint: args.addr, token: ROOT }).tokenLookupSelf());
  ok(noCa.status === 0 && /certificate/i.test(noCa.message), 'HTTPS without the CA: certificate verification fails', noCa);
}

({ main, restart, tls })[args.phase]()
  .then(() => { console.log('# done'); process.exit(failures ? 1 : 0); })
  .catch((e) => { console.log(`not ok - check_vault.js ${args.phase} stopped: ${e && e.stack}`); process.exit(1); });
