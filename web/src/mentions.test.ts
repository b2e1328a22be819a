/** "@username" becomes "<@id>" for members only, and never inside code. */
import { describe, expect, it } from "vitest";
import { encodeMentions } from "./mentions";
import type { User } from "./types";

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
