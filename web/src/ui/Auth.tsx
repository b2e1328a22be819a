/** Sign in / create account, and the invite landing page (/invite/<code>), which shows
 * the invite to anyone and joins once the visitor is signed in. */
import { useEffect, useState } from "preact/hooks";
import { ApiError, api } from "../api";
import { acceptInvite, getInvite, navigateTo, signIn } from "../client";
import { store } from "../store";
import type { Invite } from "../types";
import { effectiveTheme, useTheme } from "./hooks";
import { Moon, Sun } from "./icons";

function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401 || error.code === 50035) return error.fieldMessage();
    return error.message;
  }
  return "Cannot reach the server. Check your connection.";
}

function InviteCard({ invite }: { invite: Invite }) {
  return (
    <div class="invite-card">
      <div class="guild-icon big" aria-hidden="true">
        {(invite.guild?.name ?? "?").slice(0, 1).toUpperCase()}
      </div>
      <div>
        <div class="muted">
          {invite.inviter ? `${invite.inviter.global_name || invite.inviter.username} invites you to join` : "You are invited to join"}
        </div>
        <div class="invite-guild">{invite.guild?.name}</div>
        {invite.approximate_member_count ? (
          <div class="muted">
            {invite.approximate_member_count} member{invite.approximate_member_count === 1 ? "" : "s"}
          </div>
        ) : null}
      </div>
    </div>
  );
}

export function AuthPage({ inviteCode }: { inviteCode: string | null }) {
  const [mode, setMode] = useState<"login" | "register">(inviteCode ? "register" : "login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [invite, setInvite] = useState<Invite | null>(null);
  const [choice, setTheme] = useTheme();
  const theme = effectiveTheme(choice);

  useEffect(() => {
    if (inviteCode) getInvite(inviteCode).then(setInvite, () => setError("This invite is invalid or has expired."));
  }, [inviteCode]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await signIn(mode, username.trim(), password);
      if (inviteCode) {
        // Joined once the gateway is up; the GUILD_CREATE then opens the guild.
        await acceptInvite(inviteCode);
      } else if (!location.pathname.startsWith("/channels/")) navigateTo("/", true);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="auth">
      <button
        type="button"
        class="icon-button theme-corner"
        aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}
        onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
      >
        {theme === "dark" ? <Sun /> : <Moon />}
      </button>
      <form class="auth-card form" onSubmit={submit} aria-labelledby="auth-title">
        <div class="logo">Spectrus</div>
        {invite ? <InviteCard invite={invite} /> : null}
        <h1 id="auth-title">{mode === "login" ? "Welcome back" : "Create an account"}</h1>
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellcheck={false}
            required
            minLength={2}
            maxLength={32}
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === "login" ? "current-password" : "new-password"}
            required
            minLength={mode === "register" ? 8 : 1}
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {mode === "register" ? (
          <p class="hint">Lowercase letters, digits, “_” and “.”; a password of 8 characters or more.</p>
        ) : null}
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {mode === "login" ? (inviteCode ? "Sign in and join" : "Sign in") : inviteCode ? "Create account and join" : "Create account"}
        </button>
        <p class="switch">
          {mode === "login" ? "New here? " : "Have an account? "}
          <button type="button" class="link" onClick={() => setMode(mode === "login" ? "register" : "login")}>
            {mode === "login" ? "Create an account" : "Sign in"}
          </button>
        </p>
      </form>
    </div>
  );
}

/** A signed-in visitor following an invite link. */
export function InviteAccept({ code }: { code: string }) {
  const [invite, setInvite] = useState<Invite | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    getInvite(code).then(setInvite, () => setError("This invite is invalid or has expired."));
  }, [code]);
  const already = invite?.guild && store.guilds.has(invite.guild.id);
  const join = async () => {
    setBusy(true);
    try {
      await acceptInvite(code);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <div class="auth">
      <div class="auth-card">
        <div class="logo">Spectrus</div>
        {invite ? <InviteCard invite={invite} /> : error ? null : <p class="muted">Looking up the invite…</p>}
        {error ? <p class="error" role="alert">{error}</p> : null}
        {invite ? (
          already ? (
            <button type="button" class="primary" onClick={() => navigateTo(`/channels/${invite.guild!.id}/${invite.channel?.id ?? ""}`)}>
              You are a member: open {invite.guild?.name}
            </button>
          ) : (
            <button type="button" class="primary" disabled={busy || !api.token} onClick={join}>
              Join {invite.guild?.name}
            </button>
          )
        ) : null}
        <p class="switch">
          <button type="button" class="link" onClick={() => navigateTo("/channels/@me")}>
            Not now
          </button>
        </p>
      </div>
    </div>
  );
}
