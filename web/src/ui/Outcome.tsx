/** How the last action went: its error as an alert, else a status line (announced when it changes). */
export function Outcome({ error, status }: { error: string; status: string }) {
  return error ? (
    <p role="alert" class="error">
      {error}
    </p>
  ) : (
    <p class="status" role="status">
      {status}
    </p>
  );
}
