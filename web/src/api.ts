/**
 * The REST client: Discord's v10 paths on this origin, JSON or multipart bodies,
 * Discord's error bodies as `ApiError`, 429s waited out, and an expired session token
 * swapped once for a fresh pair with the refresh token.
 *
 * Network failures surface as `NetworkError` so callers (the offline queue) can tell
 * "the server said no" from "the server was never reached".
 */
import type { TokenPair } from "./types";

export const API_BASE = "/api/v10";
const AUTH_KEY = "spectrus.auth";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }

  /** The first field error Discord's body nests under `errors`, for forms. */
  fieldMessage(): string {
    const walk = (node: unknown): string | null => {
      if (node === null || typeof node !== "object") return null;
      const errors = (node as { _errors?: { message?: string }[] })._errors;
      if (Array.isArray(errors) && errors[0]?.message) return errors[0].message;
      for (const value of Object.values(node)) {
        const found = walk(value);
        if (found) return found;
      }
      return null;
    };
    const errors = (this.body as { errors?: unknown } | null)?.errors;
    return walk(errors) ?? this.message;
  }
}

export class NetworkError extends Error {}

export function loadAuth(): TokenPair | null {
  try {
    const raw = localStorage.getItem(AUTH_KEY);
    return raw ? (JSON.parse(raw) as TokenPair) : null;
  } catch {
    return null;
  }
}

export function saveAuth(pair: TokenPair | null): void {
  if (pair) localStorage.setItem(AUTH_KEY, JSON.stringify(pair));
  else localStorage.removeItem(AUTH_KEY);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RequestOptions {
  /** Sent without the token (login, register, invite preview). */
  anonymous?: boolean;
  signal?: AbortSignal;
  /** Written to the guild's audit log with the action (X-Audit-Log-Reason). */
  reason?: string;
}

export class Api {
  auth: TokenPair | null = loadAuth();
  onLoggedOut: () => void = () => {};
  private refreshing: Promise<boolean> | null = null;

  get token(): string | null {
    return this.auth?.token ?? null;
  }

  setAuth(pair: TokenPair | null): void {
    this.auth = pair;
    saveAuth(pair);
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    options: RequestOptions = {},
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (!options.anonymous && this.auth) headers["Authorization"] = this.auth.token;
      if (options.reason) headers["X-Audit-Log-Reason"] = encodeURIComponent(options.reason);
      let payload: BodyInit | undefined;
      if (body instanceof FormData) payload = body;
      else if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        payload = JSON.stringify(body);
      }
      let response: Response;
      try {
        const init: RequestInit = { method, headers, body: payload, cache: "no-store" };
        if (options.signal) init.signal = options.signal;
        response = await fetch(API_BASE + path, init);
      } catch (error) {
        if (options.signal?.aborted) throw error;
        throw new NetworkError(String(error));
      }
      if (response.status === 204) return undefined as T;
      const text = await response.text();
      let data: unknown = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
      if (response.ok) return data as T;
      if (response.status === 429 && attempt < 5) {
        const retry = Number((data as { retry_after?: number } | null)?.retry_after ?? 1);
        await sleep(Math.min(Math.max(retry, 0.05), 30) * 1000);
        continue;
      }
      if (response.status === 401 && !options.anonymous && attempt === 0 && this.auth) {
        if (await this.refresh()) continue;
        this.setAuth(null);
        this.onLoggedOut();
      }
      if (response.status >= 500 && attempt < 2) {
        await sleep(500 * (attempt + 1));
        continue;
      }
      const error = data as { code?: number; message?: string } | null;
      throw new ApiError(
        response.status,
        error?.code ?? 0,
        error?.message ?? `${response.status} ${response.statusText}`,
        data,
      );
    }
  }

  /** One refresh at a time: concurrent 401s share it (a refresh token works once). */
  private refresh(): Promise<boolean> {
    const current = this.auth;
    if (!current?.refresh_token) return Promise.resolve(false);
    this.refreshing ??= (async () => {
      try {
        const pair = await this.request<TokenPair>(
          "POST",
          "/auth/refresh",
          { refresh_token: current.refresh_token },
          { anonymous: true },
        );
        this.setAuth({ ...pair, user_id: pair.user_id ?? current.user_id });
        return true;
      } catch {
        return false;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>("GET", path, undefined, options);
  }
  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("POST", path, body ?? {}, options);
  }
  patch<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("PATCH", path, body, options);
  }
  put<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("PUT", path, body, options);
  }
  delete<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>("DELETE", path, undefined, options);
  }
}

export const api = new Api();
