/** The Markdown subset: what becomes formatting, and that nothing becomes markup. */
import { describe, expect, it } from "vitest";
import { parse, parseInline, safeHref } from "./markdown";

describe("inline", () => {
  it("formats bold, italic, underline, strike, spoiler and code", () => {
    expect(parseInline("**b** *i* __u__ ~~s~~ ||x|| `c`")).toEqual([
      { t: "b", c: [{ t: "text", v: "b" }] },
      { t: "text", v: " " },
      { t: "i", c: [{ t: "text", v: "i" }] },
      { t: "text", v: " " },
      { t: "u", c: [{ t: "text", v: "u" }] },
      { t: "text", v: " " },
      { t: "s", c: [{ t: "text", v: "s" }] },
      { t: "text", v: " " },
      { t: "spoiler", c: [{ t: "text", v: "x" }] },
      { t: "text", v: " " },
      { t: "code", v: "c" },
    ]);
  });

  it("nests", () => {
    expect(parseInline("**bold *and italic***")).toEqual([
      {
        t: "b",
        c: [
          { t: "text", v: "bold " },
          { t: "i", c: [{ t: "text", v: "and italic" }] },
        ],
      },
    ]);
  });

  it("leaves arithmetic, snake_case and lone delimiters alone", () => {
    expect(parseInline("2 * 3 * 4")).toEqual([{ t: "text", v: "2 * 3 * 4" }]);
    expect(parseInline("snake_case_name")).toEqual([{ t: "text", v: "snake_case_name" }]);
    expect(parseInline("**not closed")).toEqual([{ t: "text", v: "**not closed" }]);
  });

  it("keeps code verbatim", () => {
    expect(parseInline("`**x**`")).toEqual([{ t: "code", v: "**x**" }]);
  });

  it("honours backslash escapes", () => {
    expect(parseInline("\\*not italic\\*")).toEqual([{ t: "text", v: "*not italic*" }]);
  });

  it("reads mentions, custom emoji and links", () => {
    expect(parseInline("<@12> <@&34> <#56> <a:party:78> https://example.org/a.")).toEqual([
      { t: "mention", kind: "user", id: "12" },
      { t: "text", v: " " },
      { t: "mention", kind: "role", id: "34" },
      { t: "text", v: " " },
      { t: "mention", kind: "channel", id: "56" },
      { t: "text", v: " " },
      { t: "emoji", animated: true, name: "party", id: "78" },
      { t: "text", v: " " },
      { t: "link", href: "https://example.org/a", v: "https://example.org/a" },
      { t: "text", v: "." },
    ]);
  });

  it("keeps markup as text", () => {
    const evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
    expect(parseInline(evil)).toEqual([{ t: "text", v: evil }]);
  });
});

describe("blocks", () => {
  it("separates fences, quotes and headings", () => {
    expect(parse("# Title\n> quoted\ntext\n```py\nprint(1)\n```")).toEqual([
      { t: "h", level: 1, c: [{ t: "text", v: "Title" }] },
      { t: "quote", c: [{ t: "p", c: [{ t: "text", v: "quoted" }] }] },
      { t: "p", c: [{ t: "text", v: "text" }] },
      { t: "pre", lang: "py", v: "print(1)" },
    ]);
  });
});

describe("links", () => {
  it("allows only http and https", () => {
    expect(safeHref("https://a.example/x")).toBe("https://a.example/x");
    expect(safeHref("javascript:alert(1)")).toBeNull();
    expect(safeHref("data:text/html,x")).toBeNull();
  });
});
