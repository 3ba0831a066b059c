import { useEffect, useState } from "preact/hooks";
import { player, type PlayerState } from "./player";

/** The player's state, re-rendered on every change. */
export function usePlayer(): PlayerState {
  const [s, setS] = useState(player.state);
  useEffect(() => {
    setS(player.state);
    return player.subscribe(setS);
  }, []);
  return s;
}
