/** Small hooks shared by the views: store subscription, routing, theme, media queries. */
import { useEffect, useState } from "preact/hooks";
import { store } from "../store";

/** Re-render on every store change (batched per frame by the store). */
export function useStore(): number {
  const [version, setVersion] = useState(store.version);
  useEffect(() => store.subscribe(() => setVersion(store.version)), []);
  return version;
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return path;
}

export type ThemeChoice = "system" | "light" | "dark";
const THEME_KEY = "spectrus.theme";

export function loadTheme(): ThemeChoice {
  const saved = localStorage.getItem(THEME_KEY);
  return saved === "light" || saved === "dark" ? saved : "system";
}

/** `data-theme` on <html> overrides prefers-color-scheme; "system" removes it. */
export function applyTheme(choice: ThemeChoice): void {
  if (choice === "system") {
    delete document.documentElement.dataset.theme;
    localStorage.removeItem(THEME_KEY);
  } else {
    document.documentElement.dataset.theme = choice;
    localStorage.setItem(THEME_KEY, choice);
  }
}

/** The theme choice, read afresh each render so every control showing it agrees. */
export function useTheme(): [ThemeChoice, (t: ThemeChoice) => void] {
  const [, setTheme] = useState<ThemeChoice>(loadTheme);
  return [
    loadTheme(),
    (t: ThemeChoice) => {
      applyTheme(t);
      setTheme(t);
      store.changed();
    },
  ];
}

/** The theme in effect: the choice, or the system's when the choice is "system". */
export function effectiveTheme(choice: ThemeChoice): "light" | "dark" {
  if (choice !== "system") return choice;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function useMedia(query: string): boolean {
  const [matches, setMatches] = useState(() => matchMedia(query).matches);
  useEffect(() => {
    const list = matchMedia(query);
    const update = () => setMatches(list.matches);
    list.addEventListener("change", update);
    return () => list.removeEventListener("change", update);
  }, [query]);
  return matches;
}
