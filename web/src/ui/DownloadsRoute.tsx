/** The Downloads view. Episodes kept offline per device come with the listening work (web/src/downloads). */
export function DownloadsRoute() {
  return (
    <>
      <h1 id="view-h">Downloads</h1>
      <p class="card hint">Downloading episodes for offline listening is not available in this version yet. Episodes stream through your Skypod server.</p>
    </>
  );
}
