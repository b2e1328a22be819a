/**
 * The top of the view tree: signed out shows the sign-in page (with the invite when the
 * link was one); signed in shows the shell or the invite page. Routes the server must
 * answer with index.html are listed in api/src/spectrus_api/webclient.py (CLIENT_ROUTES).
 */
import { useEffect } from "preact/hooks";
import { api } from "../api";
import { startSession } from "../client";
import { store } from "../store";
import { AuthPage, InviteAccept } from "./Auth";
import { usePath, useStore } from "./hooks";
import { Shell } from "./Shell";

function Toasts() {
  return (
    <div class="toasts" role="status" aria-live="polite">
      {store.toasts.map((t) => (
        <div class="toast" key={t.id}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

export function App() {
  useStore();
  const path = usePath();
  const signedIn = !!api.token;
  useEffect(() => {
    if (signedIn) void startSession();
  }, [signedIn]);
  const invite = /^\/invite\/([A-Za-z0-9-]+)\/?$/.exec(path)?.[1] ?? null;
  let view;
  if (!signedIn) view = <AuthPage inviteCode={invite} />;
  else if (invite && store.ready) view = <InviteAccept code={invite} />;
  else view = <Shell path={path} />;
  return (
    <>
      {view}
      <Toasts />
    </>
  );
}
