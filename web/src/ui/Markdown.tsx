/** Renders the parsed Markdown tree as elements and text nodes: never as HTML. */
import { Fragment, type JSX } from "preact";
import { useState } from "preact/hooks";
import { parse, safeHref, type Block, type Inline } from "../markdown";
import { store } from "../store";
import { navigateTo } from "../client";

interface Ctx {
  guildId: string | undefined;
}

function Spoiler({ children }: { children: JSX.Element[] }) {
  const [shown, setShown] = useState(false);
  return (
    <span
      class={shown ? "spoiler shown" : "spoiler"}
      role="button"
      tabIndex={shown ? -1 : 0}
      aria-label={shown ? undefined : "Spoiler, press to reveal"}
      onClick={() => setShown(true)}
      onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && setShown(true)}
    >
      {children}
    </span>
  );
}

function Mention({ node, ctx }: { node: Extract<Inline, { t: "mention" }>; ctx: Ctx }) {
  if (node.kind === "user") {
    const g = ctx.guildId ? store.guilds.get(ctx.guildId) : undefined;
    const member = g?.members.get(node.id);
    const user = member?.user;
    const name = user ? store.displayName(user, ctx.guildId) : "unknown-user";
    const mine = node.id === store.me?.id;
    return <span class={mine ? "mention me" : "mention"}>@{name}</span>;
  }
  if (node.kind === "role") {
    const role = ctx.guildId ? store.guilds.get(ctx.guildId)?.roles.get(node.id) : undefined;
    return <span class="mention">@{role?.name ?? "deleted-role"}</span>;
  }
  const channel = store.channel(node.id);
  if (!channel?.guild_id) return <span class="mention">#unknown</span>;
  return (
    <a
      class="mention"
      href={`/channels/${channel.guild_id}/${channel.id}`}
      onClick={(e) => {
        e.preventDefault();
        navigateTo(`/channels/${channel.guild_id}/${channel.id}`);
      }}
    >
      #{channel.name}
    </a>
  );
}

function inline(nodes: Inline[], ctx: Ctx): JSX.Element[] {
  return nodes.map((node, i) => {
    switch (node.t) {
      case "text":
        return <Fragment key={i}>{node.v}</Fragment>;
      case "br":
        return <br key={i} />;
      case "b":
        return <strong key={i}>{inline(node.c, ctx)}</strong>;
      case "i":
        return <em key={i}>{inline(node.c, ctx)}</em>;
      case "u":
        return <u key={i}>{inline(node.c, ctx)}</u>;
      case "s":
        return <s key={i}>{inline(node.c, ctx)}</s>;
      case "spoiler":
        return <Spoiler key={i}>{inline(node.c, ctx)}</Spoiler>;
      case "code":
        return <code key={i}>{node.v}</code>;
      case "everyone":
        return (
          <span key={i} class="mention">
            {node.v}
          </span>
        );
      case "mention":
        return <Mention key={i} node={node} ctx={ctx} />;
      case "emoji":
        return (
          <img
            key={i}
            class="emoji"
            src={`/emojis/${node.id}.${node.animated ? "gif" : "png"}`}
            alt={`:${node.name}:`}
            title={`:${node.name}:`}
            loading="lazy"
          />
        );
      case "link": {
        const href = safeHref(node.href);
        if (!href) return <Fragment key={i}>{node.v}</Fragment>;
        return (
          <a key={i} href={href} target="_blank" rel="noopener noreferrer nofollow ugc">
            {node.v}
          </a>
        );
      }
    }
  });
}

function block(b: Block, i: number, ctx: Ctx): JSX.Element {
  switch (b.t) {
    case "p":
      return <p key={i}>{inline(b.c, ctx)}</p>;
    case "h": {
      const Tag = (["h3", "h4", "h5"] as const)[b.level - 1]!;
      return <Tag key={i}>{inline(b.c, ctx)}</Tag>;
    }
    case "pre":
      return (
        <pre key={i} data-lang={b.lang || undefined}>
          <code>{b.v}</code>
        </pre>
      );
    case "quote":
      return <blockquote key={i}>{b.c.map((x, j) => block(x, j, ctx))}</blockquote>;
  }
}

/** `suffix` (the "(edited)" mark) goes at the end of the last paragraph, on its line. */
export function Markdown({
  source,
  guildId,
  suffix,
}: {
  source: string;
  guildId?: string | undefined;
  suffix?: JSX.Element | null;
}) {
  const ctx = { guildId };
  const blocks = parse(source);
  const last = blocks[blocks.length - 1];
  if (suffix && last?.t === "p") {
    return (
      <div class="markdown">
        {blocks.slice(0, -1).map((b, i) => block(b, i, ctx))}
        <p>
          {inline(last.c, ctx)}
          {suffix}
        </p>
      </div>
    );
  }
  return (
    <div class="markdown">
      {blocks.map((b, i) => block(b, i, ctx))}
      {suffix}
    </div>
  );
}
