/** The dock's keyboard shortcuts, as a pure mapping from a key event to an action. */

export type KeyAction =
  | { kind: "toggle" }
  | { kind: "seek"; delta: number }
  | { kind: "speed"; dir: 1 | -1 }
  | { kind: "skipSilences" };

export interface KeyInput {
  key: string;
  shiftKey: boolean;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
  /** Target element's tag (upper case) and, for <input>, its type. */
  tag: string;
  type?: string;
  editable?: boolean;
  /** Inside a composite widget that uses arrow keys itself (tabs, listbox, menu, grid, …). */
  arrowWidget?: boolean;
}

/** ARIA roles whose widgets move with the arrow keys; the dock leaves arrows to them. */
export const ARROW_WIDGETS = "[role=tablist],[role=listbox],[role=menu],[role=menubar],[role=radiogroup],[role=slider],[role=grid],[role=tree],[role=treegrid],[role=spinbutton]";

/** Shortcut help, shown in the dock and in `aria-keyshortcuts`. */
export const SHORTCUTS = {
  toggle: "k Space",
  back15: "ArrowLeft",
  fwd15: "ArrowRight",
  back30: "Shift+ArrowLeft",
  fwd30: "Shift+ArrowRight",
  slower: "<",
  faster: ">",
  skip: "s",
} as const;

/** Whether the focused element uses this key itself. */
function ownedByTarget(e: KeyInput): boolean {
  if (e.editable || e.tag === "TEXTAREA" || e.tag === "SELECT") return true;
  if (e.arrowWidget && e.key.startsWith("Arrow")) return true;
  if (e.tag !== "INPUT") return false;
  const t = (e.type ?? "text").toLowerCase();
  // A slider owns the arrows; checkboxes and radios own Space (and radios the arrows).
  if (t === "range") return e.key.startsWith("Arrow") || e.key === "Home" || e.key === "End" || e.key.startsWith("Page");
  if (t === "checkbox") return e.key === " ";
  if (t === "radio") return e.key === " " || e.key.startsWith("Arrow");
  if (t === "button" || t === "submit" || t === "reset") return e.key === " " || e.key === "Enter";
  // Text-like inputs take every key.
  return true;
}

export function keyAction(e: KeyInput): KeyAction | null {
  // Browser and OS shortcuts stay theirs.
  if (e.ctrlKey || e.altKey || e.metaKey) return null;
  if (ownedByTarget(e)) return null;
  switch (e.key) {
    case "k":
    case "K":
      return { kind: "toggle" };
    case " ":
      // Space on a focused button presses that button.
      return e.tag === "BUTTON" || e.tag === "A" || e.tag === "SUMMARY" ? null : { kind: "toggle" };
    case "ArrowLeft":
      return { kind: "seek", delta: e.shiftKey ? -30 : -15 };
    case "ArrowRight":
      return { kind: "seek", delta: e.shiftKey ? 30 : 15 };
    case "<":
      return { kind: "speed", dir: -1 };
    case ">":
      return { kind: "speed", dir: 1 };
    case "s":
    case "S":
      return { kind: "skipSilences" };
    default:
      return null;
  }
}
