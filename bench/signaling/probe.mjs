// Probes the documented protocol details of both reference servers (README.md).
// Starts its own server instances on 127.0.0.1 (ports BASE..BASE+5, default 24400)
// through the start-*.sh scripts, and kills them at the end. Takes ~70 s
// because it waits for y-webrtc's 30 s ping cycle to close a non-ponging client.
// Usage: node probe.mjs [BASE_PORT] [--quick]   (--quick skips the 60 s wait)
import WebSocket from 'ws'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const BASE = Number(args.find((a) => /^\d+$/.test(a)) ?? 24400)
const H = '127.0.0.1'
const dir = new URL('.', import.meta.url).pathname
let passed = 0; let failed = 0
const pids = []

const check = (name, cond, detail = '') => {
  if (cond) passed++; else failed++
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${name}${detail ? '  ' + detail : ''}`)
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const start = (script, port, env = {}, extra = []) => {
  const pid = Number(execFileSync(`${dir}${script}`, [String(port), ...extra], {
    env: { ...process.env, BIND_LOOPBACK_QUIET: '1', ...env }, stdio: ['ignore', 'pipe', 'ignore']
  }).toString().trim().split('\n').pop())
  pids.push(pid); return pid
}
const alive = (pid) => { // zombie (not yet reaped) counts as dead
  try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}
// A client that records every frame (parsed JSON), its close code and close time.
const client = (url, opts) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url, opts)
  ws.msgs = []; ws.closeCode = null; ws.t0 = Date.now()
  ws.on('message', (d) => { const s = d.toString(); try { ws.msgs.push(JSON.parse(s)) } catch { ws.msgs.push(s) } })
  ws.on('close', (code) => { ws.closeCode = code; ws.closedAt = Date.now() - ws.t0 })
  ws.on('error', () => {})
  ws.once('open', () => resolve(ws))
  ws.once('unexpected-response', (req, res) => reject(new Error('HTTP ' + res.statusCode)))
  ws.once('error', reject)
})
const J = (ws, o) => ws.send(typeof o === 'string' ? o : JSON.stringify(o))
const httpGet = (port, path) => new Promise((resolve, reject) => {
  http.get({ host: H, port, path }, (res) => {
    let b = ''; res.on('data', (c) => { b += c }); res.on('end', () => resolve([res.statusCode, b]))
  }).on('error', reject)
})

async function ywebrtc () {
  console.log('--- y-webrtc ---')
  const port = BASE; start('start-ywebrtc.sh', port)
  const url = `ws://${H}:${port}`
  const [a, b, c] = await Promise.all([client(url), client(url + '/any/path?x=1'), client(url)])
  check('any URL path is accepted for the upgrade', true)
  const [st, body] = await httpGet(port, '/whatever')
  check('plain HTTP GET answers 200 "okay"', st === 200 && body === 'okay')
  J(a, { type: 'subscribe', topics: ['t'] }); J(b, { type: 'subscribe', topics: ['t', 42] })
  J(a, { type: 'ping' }); await sleep(150)
  check('{"type":"ping"} -> {"type":"pong"}', JSON.stringify(a.msgs) === '[{"type":"pong"}]')
  a.msgs = []
  J(c, { type: 'publish', topic: 't', data: 'x', clients: 99, extra: [1] }); await sleep(150)
  check('publish from a non-subscriber reaches all subscribers; clients overwritten; extra fields kept',
    a.msgs.length === 1 && b.msgs.length === 1 && c.msgs.length === 0 &&
    JSON.stringify(b.msgs[0]) === '{"type":"publish","topic":"t","data":"x","clients":2,"extra":[1]}', JSON.stringify(b.msgs[0]))
  a.msgs = []; b.msgs = []
  J(a, { type: 'publish', topic: 't', data: 'y' }); await sleep(150)
  check('subscribed sender gets its own publish back', a.msgs.length === 1 && b.msgs.length === 1)
  a.msgs = []; b.msgs = []
  J(b, { type: 'unsubscribe', topics: ['t'] }); J(a, { type: 'publish', topic: 't', data: 'z' }); await sleep(150)
  check('after unsubscribe: only remaining subscriber, clients=1', b.msgs.length === 0 && a.msgs[0]?.clients === 1)
  a.msgs = []
  J(a, { type: 'publish', topic: 'nobody', data: 1 }); J(a, { type: 'bogus' }); J(a, 'null'); J(a, '"str"')
  a.send(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true }); await sleep(150)
  check('unknown type / null / non-object JSON ignored; binary frame parsed as JSON too',
    JSON.stringify(a.msgs) === '[{"type":"pong"}]', JSON.stringify(a.msgs))
  a.close(); b.close(); c.close()

  // crash: non-JSON text frame
  const p2 = BASE + 1; const pid2 = start('start-ywebrtc.sh', p2)
  const u2 = `ws://${H}:${p2}`
  const [x, y] = await Promise.all([client(u2), client(u2)])
  J(x, 'hello, not json'); for (let i = 0; i < 20 && alive(pid2); i++) await sleep(100)
  const log2 = readFileSync(`/tmp/ywebrtc-${p2}.log`, 'utf8')
  check('non-JSON frame kills the whole process (all clients dropped, 1006)',
    !alive(pid2) && y.closeCode === 1006 && /SyntaxError/.test(log2), `closeCode=${y.closeCode} log: ${log2.match(/SyntaxError.*/)?.[0]}`)
  // crash: topics not an array
  const p3 = BASE + 2; const pid3 = start('start-ywebrtc.sh', p3)
  const z = await client(`ws://${H}:${p3}`)
  J(z, { type: 'subscribe', topics: 'room' }); for (let i = 0; i < 20 && alive(pid3); i++) await sleep(100)
  check('{"type":"subscribe","topics":"room"} (not an array) also kills the process', !alive(pid3),
    readFileSync(`/tmp/ywebrtc-${p3}.log`, 'utf8').match(/TypeError.*/)?.[0])

  if (!quick) {
    // idle client that answers WS pings survives; one that does not is closed at ~60 s
    const p4 = BASE + 3; start('start-ywebrtc.sh', p4)
    const good = await client(`ws://${H}:${p4}`)
    const mute = await client(`ws://${H}:${p4}`, { autoPong: false })
    let pings = 0; good.on('ping', () => pings++)
    return async () => {
      check('y-webrtc: client not answering WS pings closed after ~60 s (ping at 30 s, check at 60 s)',
        mute.closeCode !== null && mute.closedAt > 55000 && mute.closedAt < 65000, `closed after ${mute.closedAt} ms code=${mute.closeCode}`)
      check('y-webrtc: idle client that auto-pongs stays open; server pinged it every 30 s',
        good.readyState === WebSocket.OPEN && pings >= 2, `pings=${pings}`)
      good.close()
    }
  }
}

async function peerjs () {
  console.log('--- PeerJS ---')
  const port = BASE + 4; start('start-peerjs.sh', port, { EXPIRE_TIMEOUT: '2000' })
  const u = (id, token = 'tok', key = 'peerjs', path = '/peerjs') => `ws://${H}:${port}${path}?key=${key}&id=${id}&token=${token}`
  let err = null
  try { await client(u('a', 'tok', 'peerjs', '/')) } catch (e) { err = e.message }
  check('WS upgrade on a path other than /peerjs is refused', err !== null, err)
  const noTok = await client(`ws://${H}:${port}/peerjs?key=peerjs&id=q`); await sleep(150)
  check('missing id/token/key -> ERROR then close', noTok.msgs[0]?.type === 'ERROR' && noTok.closeCode !== null, JSON.stringify(noTok.msgs[0]))
  const badKey = await client(u('q', 't', 'nope')); await sleep(150)
  check('wrong key -> ERROR "Invalid key provided"', badKey.msgs[0]?.payload?.msg === 'Invalid key provided', JSON.stringify(badKey.msgs[0]))
  const a = await client(u('a', 'ta')); const b = await client(u('b', 'tb')); await sleep(150)
  check('first frame is {"type":"OPEN"}', JSON.stringify(a.msgs) === '[{"type":"OPEN"}]')
  const dup = await client(u('a', 'other')); await sleep(150)
  check('same id, other token -> ID-TAKEN then close', dup.msgs[0]?.type === 'ID-TAKEN' && dup.closeCode !== null, JSON.stringify(dup.msgs[0]))
  a.msgs = []; b.msgs = []
  J(a, { type: 'CANDIDATE', dst: 'b', src: 'forged', payload: { c: 1 }, extra: 'dropped' }); await sleep(150)
  check('directed message: src set by server (forged src overwritten), only type/src/dst/payload forwarded',
    JSON.stringify(b.msgs) === '[{"type":"CANDIDATE","src":"a","dst":"b","payload":{"c":1}}]', JSON.stringify(b.msgs))
  check('sender gets nothing back', a.msgs.length === 0)
  b.msgs = []
  J(a, { type: 'CHAT', dst: 'b', payload: 1 }); J(a, { type: 'OFFER', payload: 1 }); J(a, { type: 'HEARTBEAT' })
  await sleep(200)
  check('unknown type, missing dst, HEARTBEAT: nothing delivered, no reply',
    b.msgs.length === 0 && a.msgs.length === 0 && a.readyState === WebSocket.OPEN)
  J(a, { type: 'OFFER', dst: 'a', payload: 'self' }); await sleep(150)
  check('dst = own id is delivered to self', a.msgs[0]?.payload === 'self')
  a.msgs = []
  const w = await client(u('wedged', 'tw')); await sleep(100)
  J(w, 'not json'); J(w, { type: 'OFFER', dst: 'b', payload: 'after-garbage' }); await sleep(200)
  J(b, { type: 'OFFER', dst: 'wedged', payload: 'to-wedged' }); await sleep(150)
  check('non-JSON frame: process survives (logged) but that socket is wedged: its later frames are dropped, it still receives',
    b.msgs.length === 0 && w.msgs.at(-1)?.payload === 'to-wedged',
    `log: ${readFileSync(`/tmp/peerjs-${port}.log`, 'utf8').match(/Error: .*/)?.[0]}`)
  // re-attach with same id+token: no OPEN, new socket receives
  const a2 = await client(u('a', 'ta')); await sleep(150)
  J(b, { type: 'ANSWER', dst: 'a', payload: 'to-a' }); await sleep(150)
  check('reconnect with same id+token: no OPEN, new socket gets traffic, old one stays open but deaf',
    a2.msgs.length === 1 && a2.msgs[0].type === 'ANSWER' && a.msgs.length === 0 && a.readyState === WebSocket.OPEN, JSON.stringify(a2.msgs))
  // offline destination: queued, delivered on connect
  J(b, { type: 'OFFER', dst: 'late', payload: 'queued' }); await sleep(300)
  const late = await client(u('late', 'tl')); await sleep(150)
  check('message to an unknown id is queued and delivered right after OPEN',
    late.msgs[0]?.type === 'OPEN' && late.msgs[1]?.payload === 'queued', JSON.stringify(late.msgs))
  b.msgs = []
  J(b, { type: 'OFFER', dst: 'never', payload: 1 }); J(b, { type: 'CANDIDATE', dst: 'never', payload: 2 })
  await sleep(3500)
  check('undelivered queue expires after expire_timeout (here 2 s) -> one EXPIRE per src/dst pair to sender',
    JSON.stringify(b.msgs) === '[{"type":"EXPIRE","src":"never","dst":"b"}]', JSON.stringify(b.msgs))
  // LEAVE without dst: unregisters the sender but keeps its socket
  b.msgs = []
  J(b, { type: 'LEAVE' }); await sleep(150)
  J(late, { type: 'OFFER', dst: 'b', payload: 'after-leave' }); await sleep(150)
  check('LEAVE without dst unregisters the sender (later messages to it are queued, not delivered)',
    b.msgs.length === 0 && b.readyState === WebSocket.OPEN)
  // size: 1 MiB fine
  late.msgs = []
  J(a2, { type: 'OFFER', dst: 'late', payload: 'x'.repeat(1 << 20) }); await sleep(300)
  check('1 MiB payload forwarded (limit is ws maxPayload 100 MiB, close 1009 above)', late.msgs[0]?.payload?.length === 1 << 20)
  const big = await client(u('big', 'tb'))
  big.send('x'.repeat(100 * 1024 * 1024 + 1)); await sleep(1500)
  check('frame > 100 MiB -> connection closed with 1009', big.closeCode === 1009, `code=${big.closeCode}`)
  for (const s of [a, a2, b, late, big, w]) s.close()

  // concurrency limit and alive_timeout on a second instance
  const p2 = BASE + 5; start('start-peerjs.sh', p2, { CONCURRENT_LIMIT: '2', ALIVE_TIMEOUT: '2000' })
  const v = (id) => `ws://${H}:${p2}/peerjs?key=peerjs&id=${id}&token=t`
  const idle = await client(v('idle')); const hb = await client(v('hb'))
  const third = await client(v('third')); await sleep(150)
  check('concurrent_limit reached -> ERROR "Server has reached its concurrent user limit"',
    third.msgs[0]?.payload?.msg === 'Server has reached its concurrent user limit', JSON.stringify(third.msgs[0]))
  const timer = setInterval(() => J(hb, { type: 'HEARTBEAT' }), 500)
  await sleep(3500); clearInterval(timer)
  check('no HEARTBEAT within alive_timeout (2 s here; CLI default 60 s) -> server closes socket',
    idle.closeCode !== null && idle.closedAt >= 1700 && idle.closedAt < 2700, `closed after ${idle.closedAt} ms code=${idle.closeCode}`)
  check('client sending HEARTBEAT every 0.5 s stays open', hb.readyState === WebSocket.OPEN)
  hb.close()
}

try {
  const later = await ywebrtc()
  await peerjs()
  if (later) { console.log('(waiting for y-webrtc ping cycle, ~60 s)'); await sleep(63000); await later() }
} catch (e) {
  failed++; console.error('probe error:', e)
} finally {
  for (const p of pids) { try { process.kill(p) } catch {} }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
