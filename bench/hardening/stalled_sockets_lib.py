# A minimal realm client written from docs/protocol.md alone: Ed25519 register tokens (JWT by
# hand, RFC 7638 thumbprint), raw WebSocket frames. Used by the hardening benchmarks.
import base64, hashlib, json, os, socket, struct, subprocess, sys, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def frame(payload, opcode=1):
    mask = os.urandom(4)
    n = len(payload)
    h = bytes([0x80 | opcode])
    if n < 126: h += bytes([0x80 | n])
    elif n < 65536: h += bytes([0x80 | 126]) + struct.pack(">H", n)
    else: h += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

def register(addr):
    k = Ed25519PrivateKey.generate()
    x = b64(k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": x}
    iss = b64(hashlib.sha256(json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":")).encode()).digest())
    now = int(time.time())
    realm = b64(os.urandom(24))
    hdr = b64(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": iss}).encode())
    claims = b64(json.dumps({"iss": iss, "aud": "skypod:preauth.register", "realm": realm, "iat": now, "exp": now + 60, "pubkey": jwk}).encode())
    tok = f"{hdr}.{claims}." + b64(k.sign(f"{hdr}.{claims}".encode()))
    s = socket.create_connection(addr)
    s.sendall(b"GET /realm HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf: buf += s.recv(4096)
    assert buf.startswith(b"HTTP/1.1 101"), buf
    s.sendall(frame(json.dumps({"typ": "req", "msg": "preauth.register", "seq": 1, "dat": {"token": tok}}).encode()))
    got = buf.split(b"\r\n\r\n", 1)[1]
    while got.count(b'"typ"') < 2: got += s.recv(65536)
    assert b'"typ":"res"' in got, got[:300]
    return s

