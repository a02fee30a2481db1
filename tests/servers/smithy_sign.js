#!/usr/bin/env node
// Independent SigV4 signer for tests/unit/sigv4_test.cpp: signs requests with
// @smithy/signature-v4 (what the AWS SDK for JavaScript v3 uses) and prints
// what it computed, so the C++ signer can be compared byte for byte.
//
// stdin: a JSON array of requests
//   {method, hostname, port (optional, number), path, query: [[name, value], ...]
//    (decoded), headers: [[name, value], ...], body (UTF-8 string), region,
//    service, credentials: {accessKeyId, secretAccessKey, sessionToken?},
//    date: "YYYYMMDDTHHMMSSZ"}
// stdout: a JSON array, one object per request:
//   {authorization, headers: {name: value, ...}}  (headers as signed and sent)
//
// The host header is added as @aws-sdk's hostHeaderMiddleware does
// (hostname, plus ":port" when a port is given) unless the request has one.
// The signer itself adds x-amz-date and, with a session token,
// x-amz-security-token; applyChecksum: false (no x-amz-content-sha256), as
// for KMS and STS.
"use strict";

const { SignatureV4 } = require("@smithy/signature-v4");
const { Sha256 } = require("@aws-crypto/sha256-js");

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new Error(`bad date ${JSON.stringify(s)}`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

async function signOne(r) {
  const headers = {};
  for (const [name, value] of r.headers || []) {
    if (Object.prototype.hasOwnProperty.call(headers, name)) throw new Error(`repeated header ${name}`);
    headers[name] = value;
  }
  if (!Object.keys(headers).some((h) => h.toLowerCase() === "host")) {
    headers["host"] = r.hostname + (r.port != null ? `:${r.port}` : "");
  }
  const query = {};
  for (const [name, value] of r.query || []) {
    if (Object.prototype.hasOwnProperty.call(query, name)) {
      query[name] = [].concat(query[name], value);
    } else {
      query[name] = value;
    }
  }
  const signer = new SignatureV4({
    credentials: r.credentials,
    region: r.region,
    service: r.service,
    sha256: Sha256,
    applyChecksum: false,
  });
  const request = {
    method: r.method,
    protocol: "https:",
    hostname: r.hostname,
    port: r.port,
    path: r.path,
    query,
    headers,
    body: r.body,
  };
  const signed = await signer.sign(request, { signingDate: parseAmzDate(r.date) });
  return { authorization: signed.headers["authorization"], headers: signed.headers };
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const requests = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  if (!Array.isArray(requests)) throw new Error("stdin must be a JSON array");
  const out = [];
  for (const r of requests) out.push(await signOne(r));
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(`smithy_sign.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
