import { render } from "preact";
import { App } from "./app";
import "./style.css";

render(<App />, document.getElementById("app")!);
performance.mark("skypod:rendered");

if ("serviceWorker" in navigator && !import.meta.env.DEV) {
  addEventListener("load", () => {
    navigator.serviceWorker.register("./sw.js").catch((e: unknown) => console.warn("service worker:", e));
  });
}
