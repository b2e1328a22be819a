/** Views fetched the first time they are shown (settings, administration, diagnostics),
 * so the first load of the app does not carry them. */
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";

export function lazyView<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> & { preload: () => void } {
  let loaded: ComponentType<P> | null = null;
  let pending: Promise<ComponentType<P>> | null = null;
  const start = () => (pending ??= load().then((c) => (loaded = c)));
  function Lazy(props: P) {
    const [, setReady] = useState(!!loaded);
    const [failed, setFailed] = useState("");
    useEffect(() => {
      if (!loaded) start().then(() => setReady(true), (e: unknown) => setFailed(String(e)));
    }, []);
    if (loaded) {
      const View = loaded;
      return <View {...props} />;
    }
    return (
      <div class="lazy-loading" role="status">
        {failed ? `Could not load this view: ${failed}` : "Loading…"}
      </div>
    );
  }
  Lazy.preload = () => void start();
  return Lazy;
}
