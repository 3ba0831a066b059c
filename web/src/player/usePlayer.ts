import { useObserved } from "../lib/observable";
import { player, type PlayerState } from "./player";

/** The player's state, re-rendered on every change. */
export function usePlayer(): PlayerState {
  return useObserved(player, () => player.state);
}
