/** A value that changes over time and tells its subscribers each new one; the hook that renders it. */
import { useEffect, useState } from "preact/hooks";

export interface Observable<T> {
  /** Call `f` with every new value; returns the unsubscribe. */
  subscribe(f: (value: T) => void): () => void;
}

/** `current()` (what `source` holds now), re-rendering on every change `source` announces. */
export function useObserved<T>(source: Observable<T>, current: () => T): T {
  const [value, setValue] = useState(current);
  useEffect(() => {
    setValue(current());
    return source.subscribe(setValue);
  }, [source]);
  return value;
}
