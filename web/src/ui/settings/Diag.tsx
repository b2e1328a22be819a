/** The instance's diagnostics (`GET /api/v10/diag`, instance admins only): totals, every
 * api and gateway process, the media nodes as the gateways see them, recent errors.
 * Refreshed every five seconds while open. */
import { useEffect } from "preact/hooks";
import { api } from "../../api";
import { SectionHeader, useFetched } from "./common";

interface MediaNode {
  address: string;
  reachable?: boolean;
  draining?: boolean;
  listed_draining?: boolean;
  rooms?: number;
  sessions?: number;
}

interface ProcessReport {
  component: string;
  node: string;
  host: string;
  pid: number;
  started_at: number;
  at: number;
  cpu_seconds: number;
  rss_bytes: number;
  gateway?: { connections?: number; sessions?: number; media_nodes?: MediaNode[] } | null;
  queues?: Record<string, number> | null;
}

interface DiagError {
  at: number;
  component: string;
  node: string;
  level: string;
  logger: string;
  message: string;
}

interface DiagReport {
  at: number;
  totals: {
    processes: Record<string, number>;
    connections: number;
    sessions: number;
    presence: Record<string, number>;
    voice: { nodes: number; rooms: number; sessions: number };
    queues: Record<string, number>;
    recent_errors: DiagError[];
  };
  processes: ProcessReport[];
}

function age(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

const pairs = (record: Record<string, number> | null | undefined) =>
  Object.entries(record ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "—";

export function DiagView() {
  const { data, error, refetch } = useFetched(() => api.get<DiagReport>("/diag"), []);
  useEffect(() => {
    const timer = setInterval(refetch, 5000);
    return () => clearInterval(timer);
  }, []);
  const totals = data?.totals;
  const media = new Map<string, MediaNode>();
  for (const p of data?.processes ?? []) for (const n of p.gateway?.media_nodes ?? []) media.set(n.address, n);
  return (
    <section aria-label="Diagnostics" class="diag">
      <SectionHeader title="Instance diagnostics">
        {data ? <span class="muted">Updated {new Date(data.at * 1000).toLocaleTimeString()}</span> : null}
        <button type="button" class="secondary" onClick={refetch}>
          Refresh
        </button>
      </SectionHeader>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {!data && !error ? <p class="muted">Loading…</p> : null}
      {totals ? (
        <div class="cards" aria-label="Totals">
          <div class="card" data-total="processes">
            <div class="card-value">{Object.values(totals.processes).reduce((a, b) => a + b, 0)}</div>
            <div class="card-label">processes · {pairs(totals.processes)}</div>
          </div>
          <div class="card" data-total="connections">
            <div class="card-value">{totals.connections}</div>
            <div class="card-label">gateway connections · {totals.sessions} sessions</div>
          </div>
          <div class="card" data-total="presence">
            <div class="card-value">{Object.values(totals.presence).reduce((a, b) => a + b, 0)}</div>
            <div class="card-label">present · {pairs(totals.presence)}</div>
          </div>
          <div class="card" data-total="voice">
            <div class="card-value">{totals.voice.sessions}</div>
            <div class="card-label">
              in voice · {totals.voice.rooms} rooms on {totals.voice.nodes} node{totals.voice.nodes === 1 ? "" : "s"}
            </div>
          </div>
          <div class="card" data-total="errors">
            <div class="card-value">{totals.recent_errors.length}</div>
            <div class="card-label">recent errors · queues {pairs(totals.queues)}</div>
          </div>
        </div>
      ) : null}
      {data ? (
        <>
          <h3 class="subhead">Processes</h3>
          <table class="table" aria-label="Processes">
            <thead>
              <tr>
                <th>Component</th>
                <th>Node</th>
                <th>Host / pid</th>
                <th>Up</th>
                <th>CPU</th>
                <th>Memory</th>
                <th>Connections</th>
                <th>Queues</th>
              </tr>
            </thead>
            <tbody>
              {data.processes.map((p) => (
                <tr key={`${p.component}-${p.node}`} data-component={p.component}>
                  <td>{p.component}</td>
                  <td>
                    <code>{p.node}</code>
                  </td>
                  <td>
                    {p.host} / {p.pid}
                  </td>
                  <td>{age(data.at - p.started_at)}</td>
                  <td>{p.cpu_seconds.toFixed(1)} s</td>
                  <td>{Math.round(p.rss_bytes / 2 ** 20)} MiB</td>
                  <td>{p.gateway?.connections ?? "—"}</td>
                  <td>{pairs(p.queues)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3 class="subhead">Media nodes</h3>
          {media.size ? (
            <table class="table" aria-label="Media nodes">
              <thead>
                <tr>
                  <th>Address</th>
                  <th>Reachable</th>
                  <th>Draining</th>
                  <th>Rooms</th>
                  <th>Sessions</th>
                </tr>
              </thead>
              <tbody>
                {[...media.values()].map((n) => (
                  <tr key={n.address} data-node={n.address}>
                    <td>
                      <code>{n.address}</code>
                    </td>
                    <td class={n.reachable ? "ok" : "bad"}>{n.reachable ? "yes" : "no"}</td>
                    <td>{n.draining || n.listed_draining ? "yes" : "no"}</td>
                    <td>{n.rooms ?? "—"}</td>
                    <td>{n.sessions ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No media node is known to the gateways.</p>
          )}
          <h3 class="subhead">Recent errors</h3>
          {totals?.recent_errors.length ? (
            <ol class="error-list" aria-label="Recent errors">
              {totals.recent_errors.map((e, i) => (
                <li key={i}>
                  <div class="error-meta">
                    <time>{new Date(e.at * 1000).toLocaleString()}</time> · {e.component} {e.node} · {e.level} · {e.logger}
                  </div>
                  <pre>{e.message}</pre>
                </li>
              ))}
            </ol>
          ) : (
            <p class="muted">No errors recently.</p>
          )}
        </>
      ) : null}
    </section>
  );
}
