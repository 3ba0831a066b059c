// Smoke test: two clients exchange one message through each reference server.
// Usage: node smoke.mjs [YWEBRTC_PORT=4444] [PEERJS_PORT=9000]
// (start the servers first with ./start-ywebrtc.sh / ./start-peerjs.sh)
import WebSocket from 'ws'

const [yPort = '4444', pPort = '9000'] = process.argv.slice(2)
const HOST = '127.0.0.1'

const open = (url) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url)
  ws.once('open', () => resolve(ws))
  ws.once('error', reject)
})
const next = (ws, pred = () => true, ms = 3000) => new Promise((resolve, reject) => {
  const t = setTimeout(() => { ws.off('message', on); reject(new Error('timeout waiting for message')) }, ms)
  const on = (data) => {
    const m = JSON.parse(data.toString())
    if (pred(m)) { clearTimeout(t); ws.off('message', on); resolve(m) }
  }
  ws.on('message', on)
})
const assert = (c, msg) => { if (!c) throw new Error('assertion failed: ' + msg) }

async function ywebrtc () {
  const url = `ws://${HOST}:${yPort}`
  const [a, b] = await Promise.all([open(url), open(url)])
  for (const ws of [a, b]) ws.send(JSON.stringify({ type: 'subscribe', topics: ['room-1'] }))
  // subscribe has no ack; a ping/pong round trip proves it was processed (same socket, in order)
  for (const ws of [a, b]) { ws.send(JSON.stringify({ type: 'ping' })); await next(ws, (m) => m.type === 'pong') }
  const gotB = next(b, (m) => m.type === 'publish')
  const gotA = next(a, (m) => m.type === 'publish') // the sender is a subscriber too: it gets its own message back
  a.send(JSON.stringify({ type: 'publish', topic: 'room-1', data: { hello: 'from a' } }))
  const [mb, ma] = await Promise.all([gotB, gotA])
  assert(mb.data.hello === 'from a' && mb.clients === 2, 'b got publish with clients=2')
  assert(ma.data.hello === 'from a', 'a got its own publish back')
  console.log('y-webrtc  b received:', JSON.stringify(mb))
  console.log('y-webrtc  a (sender) received its own echo:', JSON.stringify(ma))
  a.close(); b.close()
}

async function peerjs () {
  const url = (id) => `ws://${HOST}:${pPort}/peerjs?key=peerjs&id=${id}&token=tok-${id}`
  const a = new WebSocket(url('smoke-a')); const b = new WebSocket(url('smoke-b'))
  const [oa, ob] = await Promise.all([next(a), next(b)]) // first frame is OPEN
  assert(oa.type === 'OPEN' && ob.type === 'OPEN', 'OPEN received: ' + JSON.stringify([oa, ob]))
  const got = next(b)
  a.send(JSON.stringify({ type: 'OFFER', dst: 'smoke-b', payload: { sdp: 'v=0 fake', type: 'offer' } }))
  const m = await got
  assert(m.type === 'OFFER' && m.src === 'smoke-a' && m.dst === 'smoke-b' && m.payload.sdp === 'v=0 fake', 'b got OFFER with src')
  console.log('PeerJS    b received:', JSON.stringify(m))
  a.close(); b.close()
}

try {
  await ywebrtc()
  await peerjs()
  console.log('2 passed, 0 failed')
} catch (e) {
  console.error('smoke FAILED:', e.message)
  process.exit(1)
}
