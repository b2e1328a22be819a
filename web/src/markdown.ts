/**
 * Discord's Markdown subset, parsed to a tree the view renders as elements and text
 * nodes. Nothing here produces HTML: a message can only ever become text, formatting
 * elements, and links whose scheme is http or https.
 *
 * Supported: **bold**, *italic* / _italic_, __underline__, ~~strike~~, ||spoiler||,
 * `code`, ```fenced blocks```, > quotes, # headings, links (bare, or <…> to suppress
 * the preview), mentions <@id> <@!id> <@&id> <#id>, custom emoji <:name:id> /
 * <a:name:id>, and backslash escapes.
 */

export type Inline =
  | { t: "text"; v: string }
  | { t: "br" }
  | { t: "b" | "i" | "u" | "s" | "spoiler"; c: Inline[] }
  | { t: "code"; v: string }
  | { t: "link"; href: string; v: string }
  | { t: "mention"; kind: "user" | "role" | "channel"; id: string }
  | { t: "everyone"; v: "@everyone" | "@here" }
  | { t: "emoji"; name: string; id: string; animated: boolean };

export type Block =
  | { t: "p"; c: Inline[] }
  | { t: "pre"; lang: string; v: string }
  | { t: "quote"; c: Block[] }
  | { t: "h"; level: 1 | 2 | 3; c: Inline[] };

const FENCE = /```(?:([A-Za-z0-9_+-]{1,20})\n)?([\s\S]*?)```/g;
const URL_RE = /^https?:\/\/[^\s<]+[^\s<.,:;"')\]!?]/;

/** Parse a message's content into blocks. */
export function parse(source: string): Block[] {
  const blocks: Block[] = [];
  let last = 0;
  for (const match of source.matchAll(FENCE)) {
    const start = match.index ?? 0;
    if (start > last) blocks.push(...parseLines(source.slice(last, start)));
    const body = match[2] ?? "";
    if (body.trim() === "" && !match[1]) {
      blocks.push(...parseLines(match[0])); // "``````" is text, as on Discord
    } else {
      blocks.push({ t: "pre", lang: match[1] ?? "", v: body.replace(/\n$/, "") });
    }
    last = start + match[0].length;
  }
  if (last < source.length) blocks.push(...parseLines(source.slice(last)));
  return blocks;
}

function parseLines(text: string): Block[] {
  // Newlines around a fence belong to the fence, not to the text beside it.
  const lines = text.replace(/^\n/, "").replace(/\n$/, "").split("\n");
  const out: Block[] = [];
  let para: string[] = [];
  let quote: string[] = [];
  const flushPara = () => {
    if (para.length) out.push({ t: "p", c: parseInline(para.join("\n")) });
    para = [];
  };
  const flushQuote = () => {
    if (quote.length) out.push({ t: "quote", c: parseLines(quote.join("\n")) });
    quote = [];
  };
  for (const line of lines) {
    const q = /^>>?>? (.*)$|^>$/.exec(line);
    if (q) {
      flushPara();
      quote.push(q[1] ?? "");
      continue;
    }
    flushQuote();
    const h = /^(#{1,3}) (\S.*)$/.exec(line);
    if (h) {
      flushPara();
      out.push({ t: "h", level: h[1]!.length as 1 | 2 | 3, c: parseInline(h[2]!) });
      continue;
    }
    para.push(line);
  }
  flushPara();
  flushQuote();
  // Trailing empty lines of a paragraph carry no meaning.
  return out.filter((b) => !(b.t === "p" && b.c.length === 0));
}

const PAIRS: [string, "b" | "i" | "u" | "s" | "spoiler"][] = [
  ["**", "b"],
  ["__", "u"],
  ["~~", "s"],
  ["||", "spoiler"],
  ["*", "i"],
  ["_", "i"],
];

/** Inline formatting: scan left to right; a delimiter opens only if it closes later. */
export function parseInline(text: string, depth = 0): Inline[] {
  const out: Inline[] = [];
  let buffer = "";
  const pushText = () => {
    if (buffer) out.push({ t: "text", v: buffer });
    buffer = "";
  };
  let i = 0;
  outer: while (i < text.length) {
    const ch = text[i]!;
    const rest = text.slice(i);
    if (ch === "\\" && i + 1 < text.length && /[\\*_~`|<>#:@]/.test(text[i + 1]!)) {
      buffer += text[i + 1];
      i += 2;
      continue;
    }
    if (ch === "\n") {
      pushText();
      out.push({ t: "br" });
      i++;
      continue;
    }
    if (ch === "`") {
      const ticks = rest.startsWith("``") ? "``" : "`";
      const end = text.indexOf(ticks, i + ticks.length);
      if (end > i + ticks.length) {
        pushText();
        out.push({ t: "code", v: text.slice(i + ticks.length, end) });
        i = end + ticks.length;
        continue;
      }
    }
    if (ch === "<") {
      const m =
        /^<(@!?|@&|#)(\d{1,20})>/.exec(rest) ??
        /^<(a?):([A-Za-z0-9_]{2,32}):(\d{1,20})>/.exec(rest) ??
        /^<(https?:\/\/[^\s>]+)>/.exec(rest);
      if (m) {
        pushText();
        if (m[0].startsWith("<http")) out.push({ t: "link", href: m[1]!, v: m[1]! });
        else if (m.length === 4) {
          out.push({ t: "emoji", animated: m[1] === "a", name: m[2]!, id: m[3]! });
        } else {
          const kind = m[1] === "#" ? "channel" : m[1] === "@&" ? "role" : "user";
          out.push({ t: "mention", kind, id: m[2]! });
        }
        i += m[0].length;
        continue;
      }
    }
    if (ch === "@") {
      const m = /^@(everyone|here)\b/.exec(rest);
      if (m) {
        pushText();
        out.push({ t: "everyone", v: m[0] as "@everyone" | "@here" });
        i += m[0].length;
        continue;
      }
    }
    if (ch === "h" && (i === 0 || /[\s(]/.test(text[i - 1]!))) {
      const m = URL_RE.exec(rest);
      if (m) {
        pushText();
        out.push({ t: "link", href: m[0], v: m[0] });
        i += m[0].length;
        continue;
      }
    }
    if (depth < 8) {
      for (const [delim, kind] of PAIRS) {
        if (!rest.startsWith(delim)) continue;
        const inner = i + delim.length;
        // A single * or _ must hug its text ("2 * 3 * 4" is not italic).
        if (delim.length === 1 && /\s/.test(text[inner] ?? " ")) continue;
        if (delim === "_" && i > 0 && /\w/.test(text[i - 1]!)) continue; // snake_case
        const end = findClose(text, delim, inner);
        if (end < 0) continue;
        pushText();
        out.push({ t: kind, c: parseInline(text.slice(inner, end), depth + 1) });
        i = end + delim.length;
        continue outer;
      }
    }
    buffer += ch;
    i++;
  }
  pushText();
  return out;
}

function findClose(text: string, delim: string, from: number): number {
  let j = from + 1; // non-empty content
  while (j <= text.length - delim.length) {
    if (text[j] === "\\") {
      j += 2;
      continue;
    }
    if (text[j] === "`") {
      const end = text.indexOf("`", j + 1);
      if (end > j) {
        j = end + 1;
        continue;
      }
    }
    if (text.startsWith(delim, j)) {
      // In a run ("***"), the close is its last characters: "**a *b***" is b(a i(b)).
      if (delim.length === 2) while (text[j + 2] === delim[0]) j++;
      // "**" must not be taken as the close of "*", nor "___" split oddly.
      if (delim.length === 1 && text[j + 1] === delim) {
        j += 2;
        continue;
      }
      if (delim.length === 1 && /\s/.test(text[j - 1]!)) {
        j++;
        continue;
      }
      if (delim === "_" && /\w/.test(text[j + 1] ?? "")) {
        j++;
        continue;
      }
      return j;
    }
    j++;
  }
  return -1;
}

/** Only http(s) links become anchors; anything else stays text. */
export function safeHref(href: string): string | null {
  try {
    const url = new URL(href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.toString() : null;
  } catch {
    return null;
  }
}
