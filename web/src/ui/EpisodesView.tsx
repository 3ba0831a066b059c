import { useMemo } from "preact/hooks";
import { useApp, useDoc } from "../app/context";
import { EpisodeBrowser } from "./EpisodeBrowser";

/** Every episode of every podcast, with the same filters, order and search as a podcast page. */
export function EpisodesView() {
  const app = useApp();
  const doc = useDoc(app.lib);
  const list = useMemo(() => [...app.episodes.values()], [app.episodes]);
  return (
    <>
      <h1 id="view-h">All episodes</h1>
      <EpisodeBrowser list={list} doc={doc} label="Episodes of every podcast" id="all" showFeed />
    </>
  );
}
