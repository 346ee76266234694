#!/usr/bin/env node
/* vectors.js -- compatibility vectors from the real npm modules
 *
 * Writes the file test_vectors.c checks, computed only with the modules
 * Express uses, as Debian ships them (/usr/share/nodejs): cookie-signature
 * (sign/unsign), cookie (parse/serialize), uid-safe, plus JavaScript's own
 * encodeURIComponent, decodeURIComponent, Date and JSON.  Nothing here
 * shares code with the C side.
 *
 * Usage: NODE_PATH=/usr/share/nodejs node vectors.js OUT [SEED]
 *
 * Line format: KIND FIELD...; a field is "x" + hex of its UTF-8 bytes,
 * a decimal number, or "-" (reject / none).  Kinds:
 *   sign   secret msg sig               cookie-signature sign()
 *   format name id secret expiresMs secure setCookie
 *                                       'Set-Cookie' as express-session
 *   cookie header name secrets(\n-joined) expect node
 *                                       express-session getcookie()+unsign
 *   uid24  id                           uid-safe(24), what express-session
 *   uid    id                           uid-safe(1..96)
 *   iso    ms text                      Date#toISOString
 *   imf    ms text                      Date#toUTCString
 *   enc    in out                       encodeURIComponent
 *   dec    in out|-                     decodeURIComponent (- = throws)
 *   snew   nowMs maxAgeMs json          a new session's JSON.stringify
 *   stouch nowMs in out                 JSON.parse, views+1, rolling
 *                                       expiry, JSON.stringify
 *   sbad   in                           documents we must refuse
 *
 * Where our C code is deliberately stricter than Node, the "expect" field
 * differs from the "node" field, and the reason is spelled out below
 * (search for POLICY).
 */
'use strict';

const fs = require('fs');
const signature = require('/usr/share/nodejs/cookie-signature');
const cookie = require('/usr/share/nodejs/cookie');
const uid = require('/usr/share/nodejs/uid-safe');

const out = process.argv[2];
if (!out) {
    process.stderr.write('usage: vectors.js OUT [SEED]\n');
    process.exit(2);
}
let seed = Number(process.argv[3] || process.env.VECTORS_SEED || 20261126);

/* mulberry32: a small deterministic PRNG so vectors are reproducible. */
function rnd() {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rnd() * n);
const pick = (a) => a[int(a.length)];
/* uid-safe's encoding (base64url, no padding) of n seeded bytes: keeps the
 * cookie vectors reproducible; the uid24/uid kinds use uid-safe itself. */
function seededId(n) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b.toString('base64').replace(/=+$/, '').replace(/\+/g, '-')
        .replace(/\//g, '_');
}

const lines = [];
const hex = (s) => 'x' + Buffer.from(s, 'utf8').toString('hex');
/* A header string as Node's HTTP parser makes it (latin1): bytes 1:1. */
const hexLatin1 = (s) => 'x' + Buffer.from(s, 'latin1').toString('hex');
function emit(kind, ...fields) { lines.push([kind, ...fields].join(' ')); }

/* ---- signatures --------------------------------------------------- */

const secretPool = ['keyboard cat', 'tobiiscool', 's3cr3t', 'cl\u00e9',
                    '\u00fcber-secret-\u2603', 'x'.repeat(100), ' '];
function randomSecret() {
    if (rnd() < 0.5) return pick(secretPool);
    const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 !#$%&*+-./';
    let s = '';
    for (let i = 0, n = 1 + int(80); i < n; i++) s += pick(chars);
    return s;
}

for (let i = 0; i < 200; i++) {
    const secret = randomSecret();
    const msg = i % 4 === 0 ? randomSecret() : seededId(1 + int(40));
    const signed = signature.sign(msg, secret);
    emit('sign', hex(secret), hex(msg), hex(signed.slice(msg.length + 1)));
}

/* ---- Set-Cookie ----------------------------------------------------- */

const names = ['connect.sid', 'sid', 'my-session', 'SESSION_ID'];
const MIN_MS = -62167219200000, MAX_MS = 253402300799999;

for (let i = 0; i < 200; i++) {
    const name = pick(names);
    const id = seededId(24);
    const secret = randomSecret();
    const expires = i < 100 ? 1700000000000 + int(4e11)
                            : MIN_MS + Math.floor(rnd() * (MAX_MS - MIN_MS));
    const secure = int(2);
    /* express-session setcookie(): serialize(name, 's:' + sign(val,
     * secret), cookie.data) with our options. */
    const header = cookie.serialize(name, 's:' + signature.sign(id, secret), {
        path: '/', expires: new Date(expires), httpOnly: true,
        secure: secure === 1, sameSite: 'lax',
    });
    emit('format', hex(name), hex(id), hex(secret), String(expires),
         String(secure), hex(header));
}

/* ---- Cookie header -> session id ----------------------------------- */

/* express-session's getcookie() for a header and secrets. */
function nodeVerdict(header, name, secrets) {
    const raw = cookie.parse(header)[name];
    if (!raw || raw.substr(0, 2) !== 's:') return false;
    for (const s of secrets) {
        const r = signature.unsign(raw.slice(2), s);
        if (r !== false) return { id: r, raw };
    }
    return false;
}

/* POLICY: we accept only what Node accepts AND (1) the id is 1..128
 * base64url chars (it becomes a Redis key suffix) AND (2) the signature
 * is exactly 43 chars: cookie-signature 1.0.6 unsign() compares only the
 * first strlen(expected) bytes, so Node also accepts junk after it. */
function expected(v) {
    if (v === false) return false;
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(v.id)) return false;
    if (v.raw.length - 2 - v.id.length - 1 !== 43) return false;
    return v.id;
}

const ws = ['', '', '', ' ', '  ', '\t', ' \t', '\u00a0'];
function encodeSome(s) {
    /* Encode a random subset of chars, hex case random. */
    let r = '';
    for (const ch of s) {
        if (rnd() < 0.3) {
            for (const b of Buffer.from(ch, 'utf8')) {
                let h = b.toString(16).padStart(2, '0');
                if (rnd() < 0.5) h = h.toUpperCase();
                r += '%' + h;
            }
        } else {
            r += ch;
        }
    }
    return r;
}
function mutate(value) {
    const m = int(14);
    const at = int(value.length);
    const flip = (s, k) => s.slice(0, k)
        + (s[k] === 'A' ? 'B' : 'A') + s.slice(k + 1);
    switch (m) {
    case 0: return flip(value, value.length - 1 - int(43));  /* sig */
    case 1: return flip(value, 2 + int(10));                  /* id */
    case 2: return value.slice(0, at);                        /* cut */
    case 3: return value + pick(['JUNK', '=', '.', 'x', '%00', '\u00e9']);
    case 4: return value.slice(2);                            /* no s: */
    case 5: return 'S' + value.slice(1);
    case 6: return value.replace('.', '');
    case 7: return value.slice(0, at) + '%zz' + value.slice(at);
    case 8: return value.slice(0, at) + ';' + value.slice(at);
    default: return value;                                    /* intact */
    }
}
function pair() {
    const k = pick(['a', 'foo', 'connect.sid2', 'xconnect.sid', '_ga',
                    'lang', 'Connect.sid', '']);
    const v = pick(['1', 'bar', '"q"', '%zz', '%E2%82%AC', '', 'a=b',
                    's%3Afake.sig']);
    return pick([k + '=' + v, k, k + '=' + v, ' ']);
}

let accepted = 0;
for (let i = 0; i < 3000; i++) {
    const name = pick(names);
    const secrets = [];
    for (let k = 0, n = 1 + int(3); k < n; k++) secrets.push(randomSecret());
    let id = seededId(24);
    const r = rnd();
    if (r < 0.05) id = pick(['a.b', 'a+b', 'a/b', 'a b', '\u00e9', 'a%b', '']);
    else if (r < 0.1) id = seededId(95 + int(2));        /* 127..128 chars */
    const signer = rnd() < 0.85 ? pick(secrets) : randomSecret();
    let value = mutate('s:' + signature.sign(id, signer));
    const enc = int(6);
    if (enc <= 2) value = encodeURIComponent(value);
    else if (enc === 3) value = encodeSome(value);
    if (rnd() < 0.1) value = '"' + value + '"';
    let ours = pick(ws) + name + pick(ws) + '=' + pick(ws) + value
               + pick(ws);
    const parts = [];
    for (let k = 0, n = int(4); k < n; k++) parts.push(pair());
    parts.splice(int(parts.length + 1), 0, ours);
    if (rnd() < 0.15)            /* a duplicate, before or after */
        parts.splice(int(parts.length + 1), 0,
                     name + '=' + pick(['garbage', 's%3Ax.y',
                                        encodeURIComponent('s:'
                                        + signature.sign(seededId(24),
                                                         secrets[0]))]));
    const header = parts.join(pick([';', '; ', ' ;', ';;']));
    const v = nodeVerdict(header, name, secrets);
    const e = expected(v);
    if (e !== false) accepted++;
    emit('cookie', hexLatin1(header), hex(name), hex(secrets.join('\n')),
         e === false ? '-' : hex(e), v === false ? '-' : hex(v.id));
}
if (accepted < 500) throw new Error('too few accepted cookie vectors');

/* Header-size stress: a valid cookie after ~9 KiB of others. */
{
    const id = seededId(24);
    let h = '';
    while (h.length < 9000) h += 'pad' + int(1e6) + '=' + 'v'.repeat(50) + '; ';
    h += 'connect.sid=' + encodeURIComponent('s:'
         + signature.sign(id, 'keyboard cat'));
    const v = nodeVerdict(h, 'connect.sid', ['keyboard cat']);
    emit('cookie', hexLatin1(h), hex('connect.sid'), hex('keyboard cat'),
         hex(expected(v)), hex(v.id));
}

/* ---- ids ------------------------------------------------------------ */

for (let i = 0; i < 200; i++) emit('uid24', hex(uid.sync(24)));
for (let n = 1; n <= 96; n++) emit('uid', hex(uid.sync(n)));

/* ---- dates ---------------------------------------------------------- */

const dates = [0, -1, 1, MIN_MS, MAX_MS, 951782400000, 951868799999,
               -2203891200000, 1709164800000, 1709251199999,
               -62162121600000, 1798254062345, 4102444799999,
               253370764800000];
for (let i = 0; i < 2000; i++)
    dates.push(MIN_MS + Math.floor(rnd() * (MAX_MS - MIN_MS)));
/* Every leap day 1600..2400 at a random time. */
for (let y = 1600; y <= 2400; y += 4) {
    const t = Date.UTC(y, 1, 29, int(24), int(60), int(60), int(1000));
    if (new Date(t).getUTCMonth() === 1) dates.push(t);
}
for (const ms of dates) {
    const d = new Date(ms);
    emit('iso', String(ms), hex(d.toISOString()));
    emit('imf', String(ms), hex(d.toUTCString()));
}

/* ---- percent-encoding ----------------------------------------------- */

function randomString(n) {
    let s = '';
    for (let i = 0; i < n; i++) {
        const r = rnd();
        let cp;
        if (r < 0.5) cp = 0x20 + int(0x5f);
        else if (r < 0.6) cp = int(0x20);
        else if (r < 0.75) cp = 0x80 + int(0x780);
        else if (r < 0.9) { do cp = 0x800 + int(0xf800); while (cp >= 0xd800 && cp < 0xe000); }
        else if (r < 0.95) cp = pick([0x2028, 0x2029, 0xfeff, 0xfffd]);
        else cp = 0x10000 + int(0x100000);
        s += String.fromCodePoint(cp);
    }
    return s;
}
for (let i = 0; i < 500; i++) {
    const s = randomString(int(30));
    emit('enc', hex(s), hex(encodeURIComponent(s)));
}
const decTokens = ['a', 'Z', '0', '+', ' ', '-', '.', '/', '\u00e9', '%',
                   '%4', '%zz', '%41', '%2f', '%2F', '%25', '%C3%A9',
                   '%c3%a9', '%E2%82%AC', '%F0%9F%98%80', '%ED%A0%80',
                   '%C0%AF', '%FF', '%80', '%E2%82', '%F4%90%80%80',
                   '%00', '%0a', '%e2%80%a8'];
for (let i = 0; i < 1000; i++) {
    let s = '';
    for (let k = 0, n = int(8); k < n; k++) s += pick(decTokens);
    let d;
    try { d = decodeURIComponent(s); } catch (e) { d = null; }
    /* POLICY: pct_decode refuses a decoded NUL (Node returns it). */
    if (d !== null && d.includes('\0')) d = null;
    emit('dec', hex(s), d === null ? '-' : hex(d));
}

/* ---- session documents ---------------------------------------------- */

function randomValue(depth) {
    const r = rnd();
    if (depth > 3 || r < 0.35) {
        return pick([
            () => int(1000), () => -int(1e6), () => rnd() * 1e6,
            () => rnd(), () => rnd() * 1e-9, () => 1e21 * (1 + int(9)),
            () => Number.MAX_SAFE_INTEGER - int(9), () => 0.1 + 0.2,
            () => -(rnd() * 1e30), () => 2 ** 64, () => 5e-324,
            () => randomString(int(12)), () => true, () => false,
            () => null, () => '',
        ])();
    }
    if (r < 0.6) {
        const a = [];
        for (let i = 0, n = int(4); i < n; i++) a.push(randomValue(depth + 1));
        return a;
    }
    const o = {};
    for (let i = 0, n = int(4); i < n; i++) o[randomKey()] = randomValue(depth + 1);
    return o;
}
function randomKey() {
    return pick(['user', 'flash', 'returnTo', 'cart', 'csrfSecret', 'a b',
                 'caf\u00e9', 'q"uote', 'back\\slash', 'nl\n', '',
                 'x' + int(1000), randomString(1 + int(5))]);
}
function nulKey(v) {
    if (v === null || typeof v !== 'object') return false;
    if (Array.isArray(v)) return v.some(nulKey);
    return Object.keys(v).some((k) => k.includes('\0') || nulKey(v[k]));
}
function cookieData(now) {
    /* express-session's Cookie#data order (1.17): originalMaxAge,
     * expires, secure, httpOnly, domain, path, sameSite. */
    const maxAge = pick([86400000, 3600000, 1000, 0, null,
                         30 * 86400000, 1 + int(1e9)]);
    const c = { originalMaxAge: maxAge };
    if (maxAge !== null) c.expires = new Date(now - int(1e9) + maxAge);
    if (rnd() < 0.3) c.secure = rnd() < 0.5;
    c.httpOnly = true;
    if (rnd() < 0.2) c.domain = 'example.com';
    c.path = '/';
    if (rnd() < 0.3) c.sameSite = pick(['lax', 'strict', true]);
    return c;
}
for (let i = 0; i < 300; i++) {
    const now = 946684800000 + int(4e12);
    const maxAge = pick([86400000, 3600000, 0, 1, 30 * 86400000]);
    const doc = {
        cookie: { originalMaxAge: maxAge, expires: new Date(now + maxAge),
                  httpOnly: true, path: '/' },
        views: 0,
        createdAt: new Date(now),
    };
    emit('snew', String(now), String(maxAge), hex(JSON.stringify(doc)));
}
for (let i = 0; i < 1000; i++) {
    const now = 946684800000 + int(4e12);
    const sess = {};
    if (rnd() < 0.2) sess[randomKey()] = randomValue(0);
    sess.cookie = cookieData(now);
    for (let k = 0, n = int(4); k < n; k++) {
        const key = randomKey();
        if (key !== 'cookie' && key !== 'views') sess[key] = randomValue(0);
    }
    const vr = rnd();
    if (vr < 0.6) sess.views = int(100000);
    else if (vr < 0.7) sess.views = pick(['7', 2.5, null, [], {}, -3, true]);
    if (rnd() < 0.7) sess.createdAt = new Date(now - int(1e10));
    const before = JSON.stringify(sess);
    if (nulKey(sess)) {
        /* Known limit: jansson refuses NUL in object keys (values are
         * fine); such a document is refused whole, never mangled. */
        emit('sbad', hex(before));
        continue;
    }
    /* Our handler's visit, done the JavaScript way. */
    const o = JSON.parse(before);
    o.views = (Number.isInteger(o.views) ? o.views : 0) + 1;
    if (Number.isInteger(o.cookie.originalMaxAge)
        && o.cookie.originalMaxAge >= 0)
        o.cookie.expires = new Date(now + o.cookie.originalMaxAge);
    emit('stouch', String(now), hex(before), hex(JSON.stringify(o)));
}
for (const bad of ['[]', 'null', '"s"', '{}', '{"cookie":null}',
                   '{"cookie":[]}', '{"cookie":{}', '{"cookie":{}}x',
                   /* Known limit: jansson refuses escaped lone surrogates
                    * that JSON.stringify can write. */
                   JSON.stringify({ cookie: {}, s: '\ud800' })])
    emit('sbad', hex(bad));

fs.writeFileSync(out, lines.join('\n') + '\n');
process.stderr.write(`vectors.js: ${lines.length} vectors, `
                     + `${accepted} accepted cookies, seed ${process.argv[3] || process.env.VECTORS_SEED || 20261126}\n`);
