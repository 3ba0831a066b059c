// Interop between the Rust skypod-library crate and npm @automerge/automerge 3.x.
//
//   node interop.mjs edit <in.automerge> <out.automerge> <episode key>
//     load a library saved by Rust, check what Rust wrote, add a play record for a new
//     device, a subscription, a device name and a queue entry, save.
//   node interop.mjs sync <start.automerge> <episode key>
//     load the start document, make edits, then run the Automerge sync protocol over
//     stdin/stdout with 4-byte big-endian length-prefixed frames: one reply frame per
//     request frame (empty = nothing to say). When stdin ends, write one last frame
//     with the JSON {heads, feeds}.
import * as A from "@automerge/automerge";
import { readFileSync, writeFileSync } from "node:fs";

function fail(msg) {
  process.stderr.write(`interop.mjs: ${msg}\n`);
  process.exit(2);
}

// Plain JS numbers: integers are stored as Int, others as F64 (the Rust side reads
// either). `new A.Float64(x)` inside a change would be stored as a map, not a float.
function nodeEdits(doc, ep, device, url) {
  return A.change(doc, { message: `edits from ${device}` }, (d) => {
    if (!d.plays[device]) d.plays[device] = {};
    d.plays[device][ep] = {
      position: 42.5,
      duration: 3600,
      completed: false,
      speed: 1.5,
      updated: Date.now(),
    };
    d.subscriptions[url] = {
      title: "Added by Node",
      folder: ["From", "Node"],
      tags: { js: true },
      added: Date.now(),
      settings: { speed: 1.25 },
    };
    d.devices[device] = { name: "Node device" };
    d.queues[device] = [ep];
  });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "edit") {
  const [inPath, outPath, ep] = args;
  let doc = A.load(new Uint8Array(readFileSync(inPath)));
  if (doc.schema !== 1) fail(`schema is ${doc.schema}`);
  const rust = doc.subscriptions["https://rust.example/feed.xml"];
  if (!rust) fail("Rust subscription missing");
  if (String(rust.title) !== "From Rust") fail(`title is ${rust.title}`);
  if (doc.plays["rust-dev"]?.[ep]?.position !== 120.25) fail("Rust play record missing");
  doc = nodeEdits(doc, ep, "node-dev", "https://node.example/feed.xml");
  writeFileSync(outPath, A.save(doc));
} else if (mode === "sync") {
  const [startPath, ep] = args;
  let doc = A.load(new Uint8Array(readFileSync(startPath)));
  const genesis = A.getHeads(doc);
  doc = nodeEdits(doc, ep, "node-live", "https://node-live.example/feed.xml");
  let state = A.initSyncState();
  let buf = Buffer.alloc(0);
  const frame = (bytes) => {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(bytes.length, 0);
    process.stdout.write(Buffer.concat([h, Buffer.from(bytes)]));
  };
  process.stdin.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      const msg = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      if (len > 0) {
        [doc, state] = A.receiveSyncMessage(doc, state, new Uint8Array(msg));
      }
      const [next, out] = A.generateSyncMessage(doc, state);
      state = next;
      frame(out ?? new Uint8Array(0));
    }
  });
  process.stdin.on("end", () => {
    const result = {
      genesis,
      heads: A.getHeads(doc),
      feeds: Object.keys(doc.subscriptions).sort(),
      laptop: doc.plays["rust-dev"]?.[ep]?.position ?? null,
    };
    frame(new TextEncoder().encode(JSON.stringify(result)));
  });
} else {
  fail(`unknown mode ${mode}`);
}
