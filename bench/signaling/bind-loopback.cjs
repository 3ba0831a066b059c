'use strict'
// Preload: `node --require ./bind-loopback.cjs server.js`
//
// Forces every TCP listen() in the process (net.Server, and therefore
// http.Server / https.Server / express / ws, which all inherit from it) onto
// one loopback host, whatever host (or no host) the program asked for.
// Unix-socket paths, handles and fds are left untouched.
//
// BIND_HOST overrides the host (must stay a loopback address, e.g. ::1).
// BIND_LOOPBACK_QUIET=1 silences the one-line stderr notice per listen().

const net = require('node:net')

const HOST = process.env.BIND_HOST || '127.0.0.1'
if (!/^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/.test(HOST)) {
  throw new Error(`bind-loopback: BIND_HOST=${HOST} is not a loopback address`)
}
const quiet = process.env.BIND_LOOPBACK_QUIET === '1'
const origListen = net.Server.prototype.listen

const isPort = (v) =>
  typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))

function patchedListen (...args) {
  let cb
  if (typeof args[args.length - 1] === 'function') cb = args.pop()
  const a0 = args[0]
  let opts

  if (a0 !== null && typeof a0 === 'object') {
    // listen(options[, cb]) or listen(handle[, backlog][, cb])
    const isHandle = a0._handle !== undefined || a0.fd !== undefined ||
      a0.handle !== undefined || a0.path !== undefined ||
      (a0.port === undefined && a0.host === undefined)
    if (isHandle) {
      if (cb) args.push(cb)
      return origListen.apply(this, args)
    }
    opts = { ...a0, host: HOST }
  } else if (a0 === undefined || a0 === null || isPort(a0)) {
    // listen([port][, host][, backlog])
    opts = { port: a0 == null ? 0 : Number(a0), host: HOST }
    const backlog = [args[1], args[2]].find((v) => typeof v === 'number')
    if (backlog !== undefined) opts.backlog = backlog
  } else {
    // listen(path[, backlog]) : unix socket / named pipe
    if (cb) args.push(cb)
    return origListen.apply(this, args)
  }
  if (!quiet) {
    process.stderr.write(`[bind-loopback] pid ${process.pid}: listen(${JSON.stringify(opts)})\n`)
  }
  return cb ? origListen.call(this, opts, cb) : origListen.call(this, opts)
}

net.Server.prototype.listen = patchedListen
// http.Server inherits listen from net.Server; patch explicitly anyway in case
// a future Node overrides it on the subclass.
for (const mod of ['node:http', 'node:https']) {
  const S = require(mod).Server
  if (S && S.prototype.listen !== patchedListen &&
      Object.prototype.hasOwnProperty.call(S.prototype, 'listen')) {
    S.prototype.listen = patchedListen
  }
}
