// express.js -- the Express peer of fcgi-app's GET / for tests/bench/app.
//
// The shape of the system fcgi-app replaces: Node's cluster module with
// EXPRESS_WORKERS worker processes (as many as the C app has), each an
// Express 4 app behind nginx (HTTP, upstream keepalive) with one node-redis
// 4 client (promise API: connect() then get/set, which node-redis pipelines
// on its one connection).
//
// GET / does the session work express-session + connect-redis do, on the
// wire byte for byte: the signed cookie connect.sid=s:<id>.<sig>
// (cookie-signature: base64 HMAC-SHA256 without '='), ids from uid-safe(24),
// the JSON document under sess:<id> ({"cookie":{"originalMaxAge",
// "expires","httpOnly","path"},"views","createdAt"}, what fcgi-app writes),
// SET with EX = seconds to cookie.expires (30 days, rolling), views += 1,
// Set-Cookie on every answer, body {"status":"ok"}.  express-session and
// connect-redis are not packaged in Debian 12, so their steps are written
// out here; the middleware itself does more per request (a Session object,
// a CRC of the JSON before and after to see whether it changed), so this
// peer is, if anything, cheaper than the original.
//
// Settings (environment, all required but EXPRESS_WORKERS): EXPRESS_PORT,
// EXPRESS_WORKERS (default 1), REDIS_HOST, REDIS_PORT, REDIS_PASSWORD,
// SESSION_SECRET.  Run as `node express.js` with NODE_PATH holding Debian's
// /usr/share/nodejs.
'use strict';

const cluster = require('cluster');
const cookie = require('cookie');
const express = require('express');
const redis = require('redis');
const signature = require('cookie-signature');
const uid = require('uid-safe');

const COOKIE_NAME = 'connect.sid';
const PREFIX = 'sess:';
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;      // fcgi-app SESSION_MAX_AGE_S

function setting(name, dflt) {
    const v = process.env[name];
    if (v === undefined || v === '') {
        if (dflt === undefined) {
            console.error(`express: ${name} is not set`);
            process.exit(2);
        }
        return dflt;
    }
    return v;
}

// The session named by a validly signed cookie, from Redis, or null.
async function load(client, secret, header) {
    const raw = header ? cookie.parse(header)[COOKIE_NAME] : undefined;
    if (!raw || raw.substr(0, 2) !== 's:') {
        return null;
    }
    const id = signature.unsign(raw.slice(2), secret);
    if (id === false) {
        return null;
    }
    const doc = await client.get(PREFIX + id);
    return doc ? { id, sess: JSON.parse(doc) } : null;
}

async function worker() {
    const secret = setting('SESSION_SECRET');
    const client = redis.createClient({
        socket: {
            host: setting('REDIS_HOST'),
            port: Number(setting('REDIS_PORT')),
        },
        password: setting('REDIS_PASSWORD'),
    });
    client.on('error', (e) => console.error(`express: redis: ${e.message}`));
    await client.connect();

    const app = express();
    app.get('/', async (req, res, next) => {
        try {
            const now = Date.now();
            let s = await load(client, secret, req.headers.cookie);
            if (s === null) {
                s = {
                    id: uid.sync(24),
                    sess: {
                        cookie: { originalMaxAge: MAX_AGE_MS, expires: null,
                                  httpOnly: true, path: '/' },
                        views: 0,
                        createdAt: new Date(now).toISOString(),
                    },
                };
            }
            // express-session's touch(): a rolling expiry.
            const expires = new Date(now + MAX_AGE_MS);
            s.sess.cookie.originalMaxAge = MAX_AGE_MS;
            s.sess.cookie.expires = expires.toISOString();
            s.sess.views = (s.sess.views || 0) + 1;
            // connect-redis 7: SET key json EX ceil(ms to expiry / 1000).
            await client.set(PREFIX + s.id, JSON.stringify(s.sess),
                             { EX: Math.ceil((expires - now) / 1000) });
            res.append('Set-Cookie', cookie.serialize(COOKIE_NAME,
                's:' + signature.sign(s.id, secret),
                { path: '/', expires, httpOnly: true, sameSite: 'lax' }));
            res.json({ status: 'ok' });
        } catch (e) {
            next(e);
        }
    });
    app.use((err, req, res, _next) => {
        console.error(`express: ${err.message}`);
        res.status(503).json({ error: 'service unavailable' });
    });

    const server = app.listen(Number(setting('EXPRESS_PORT')), '127.0.0.1');
    // nginx keeps idle upstream connections up to keepalive_timeout (30 s);
    // Node's default 5 s would close them under nginx's feet.
    server.keepAliveTimeout = 65000;
    server.headersTimeout = 66000;
}

if (cluster.isPrimary) {
    const n = Number(setting('EXPRESS_WORKERS', '1'));
    for (let i = 0; i < n; i++) {
        cluster.fork();
    }
    cluster.on('exit', (w, code, sig) => {
        // Not restarted: a dead worker must show in the figures.
        console.error(`express: worker ${w.process.pid} exited ` +
                      `(${sig || code})`);
    });
} else {
    worker().catch((e) => {
        console.error(`express: ${e.stack || e}`);
        process.exit(1);
    });
}
