/** "@username" becomes "<@id>" for members only, and never inside code. */
import { describe, expect, it } from "vitest";
import { encodeEmoji, encodeMentions } from "./mentions";
import type { Emoji, User } from "./types";

const users: User[] = [
  { id: "11", username: "alice", global_name: "Alice", avatar: null },
  { id: "22", username: "bob.smith", global_name: null, avatar: null },
];

describe("encodeMentions", () => {
  it("encodes members and leaves the rest", () => {
    expect(encodeMentions("hi @alice and @carol", users)).toBe("hi <@11> and @carol");
    expect(encodeMentions("@bob.smith.", users)).toBe("<@22>.");
    expect(encodeMentions("@ALICE!", users)).toBe("<@11>!");
  });

  it("leaves e-mail addresses and code alone", () => {
    expect(encodeMentions("mail me@alice", users)).toBe("mail me@alice");
    expect(encodeMentions("`@alice` and ```\n@alice\n``` but @alice", users)).toBe(
      "`@alice` and ```\n@alice\n``` but <@11>",
    );
  });
});

const emojis: Emoji[] = [
  { id: "900", name: "party", animated: false },
  { id: "901", name: "spin", animated: true },
];

describe("encodeEmoji", () => {
  it("encodes the server's emoji by name, animated ones with a", () => {
    expect(encodeEmoji("so :party: and :spin:!", emojis)).toBe("so <:party:900> and <a:spin:901>!");
  });

  it("leaves unknown names, encoded emoji, times and code alone", () => {
    expect(encodeEmoji(":nope: <:party:900> at 10:30:15", emojis)).toBe(":nope: <:party:900> at 10:30:15");
    expect(encodeEmoji("`:party:` ```\n:party:\n``` :party:", emojis)).toBe("`:party:` ```\n:party:\n``` <:party:900>");
  });
});
