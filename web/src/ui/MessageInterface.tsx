import { useEffect, useState } from "preact/hooks";
import type { ChatMessage, MessageConsole } from "../realm/console";
import type { Via } from "../realm/dispatch";
import { Outcome } from "./Outcome";

/** Send a message over P2P data channels or through the server relay; see what came in and how. */
export function MessageInterface({ messageConsole }: { messageConsole: MessageConsole }) {
  const [messages, setMessages] = useState<readonly ChatMessage[]>(messageConsole.messages);
  useEffect(() => messageConsole.subscribe(setMessages), [messageConsole]);
  const [via, setVia] = useState<Via>("p2p");
  const [text, setText] = useState("");
  const [status, setStatus] = useState("");
  const [error, setError] = useState("");

  const send = async (e: Event) => {
    e.preventDefault();
    const body = text.trim();
    if (!body) return;
    setError("");
    try {
      const n = await messageConsole.send(body, via);
      if (n === 0) {
        setError(via === "p2p" ? "No device is connected over P2P right now. Try the relay." : "No other device is online to receive it.");
        return;
      }
      setStatus(`Sent to ${n} device${n === 1 ? "" : "s"} via ${via === "p2p" ? "P2P" : "relay"}.`);
      setText("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <section aria-labelledby="msg-h" class="card">
      <h2 id="msg-h">Messages</h2>
      <form onSubmit={send} class="send">
        <fieldset class="via">
          <legend>Send via</legend>
          <label>
            <input type="radio" name="via" value="p2p" checked={via === "p2p"} onChange={() => setVia("p2p")} /> P2P
          </label>
          <label>
            <input type="radio" name="via" value="relay" checked={via === "relay"} onChange={() => setVia("relay")} /> Server relay
          </label>
        </fieldset>
        <label for="msg-text" class="sr-only">Message</label>
        <input id="msg-text" value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder="Say hello to your other devices" autocomplete="off" />
        <button type="submit">Send</button>
      </form>
      <Outcome error={error} status={status} />
      <ol class="messages" aria-label="Message history" aria-live="polite">
        {messages.map((m) => (
          <li key={m.id} class={m.outgoing ? "out" : "in"} data-via={m.via}>
            <span class={`via-badge ${m.via}`}>{m.via === "p2p" ? "P2P" : "relay"}</span>
            <span class="who">{m.outgoing ? "you" : m.from.slice(0, 8)}</span>
            <span class="body">{m.body}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
