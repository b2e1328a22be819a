/** Pieces the settings sections share: error text, a fetch-on-mount hook, a button that
 * asks once more before doing something destructive, and names of people. */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../../api";
import { addDispatchListener } from "../../client";
import { store } from "../../store";
import type { User } from "../../types";

export function errorText(error: unknown): string {
  return error instanceof ApiError ? error.fieldMessage() : String(error);
}

/** Data from the API, refetched on `refetch()`, when `deps` change, and when one of the
 * gateway `events` arrives (for lists no store keeps: bans, invites, the audit log). */
export function useFetched<T>(
  load: () => Promise<T>,
  deps: unknown[],
  events: string[] = [],
): { data: T | null; error: string; refetch: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError("");
      },
      (e) => live && setError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  useEffect(() => {
    if (!events.length) return;
    return addDispatchListener((event) => {
      if (events.includes(event)) setTick((n) => n + 1);
    });
  }, []);
  return { data, error, refetch: () => setTick((n) => n + 1) };
}

/** A destructive action: the first press asks, the second (within a few seconds) acts. */
export function ConfirmButton({
  label,
  confirm,
  onConfirm,
  class: className = "",
  disabled = false,
}: {
  label: string;
  confirm: string;
  onConfirm: () => void;
  class?: string;
  disabled?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  useEffect(() => {
    if (!asking) return;
    const timer = setTimeout(() => setAsking(false), 4000);
    return () => clearTimeout(timer);
  }, [asking]);
  return (
    <button
      type="button"
      class={`${asking ? "danger" : "secondary danger-text"} ${className}`}
      disabled={disabled}
      onClick={() => {
        if (asking) {
          setAsking(false);
          onConfirm();
        } else setAsking(true);
      }}
    >
      {asking ? confirm : label}
    </button>
  );
}

export function SectionHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="section-header">
      <h2>{title}</h2>
      {children}
    </header>
  );
}

export function nameOf(user: User | undefined, guildId: string): string {
  return user ? store.displayName(user, guildId) : "Someone";
}

export function formatWhen(iso: string | number): string {
  const d = typeof iso === "number" ? new Date(iso) : new Date(iso);
  return d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}
