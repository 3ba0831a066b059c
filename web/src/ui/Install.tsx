import { useEffect, useState } from "preact/hooks";

interface InstallPromptEvent extends Event {
  prompt(): Promise<void>;
  userChoice: Promise<{ outcome: "accepted" | "dismissed" }>;
}

/** Shows "Install app" when the browser offers a PWA install prompt. */
export function InstallButton() {
  const [evt, setEvt] = useState<InstallPromptEvent | null>(null);
  useEffect(() => {
    const on = (e: Event) => {
      e.preventDefault();
      setEvt(e as InstallPromptEvent);
    };
    const done = () => setEvt(null);
    addEventListener("beforeinstallprompt", on);
    addEventListener("appinstalled", done);
    return () => {
      removeEventListener("beforeinstallprompt", on);
      removeEventListener("appinstalled", done);
    };
  }, []);
  if (!evt) return null;
  return (
    <button
      type="button"
      class="install"
      onClick={async () => {
        await evt.prompt();
        await evt.userChoice;
        setEvt(null);
      }}
    >
      Install app
    </button>
  );
}
