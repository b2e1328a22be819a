/** Permission bits by name: switches for a role, and deny / inherit / allow for a
 * channel overwrite. */
import { P, has } from "../../permissions";
import { PERMISSION_GROUPS } from "./permissionNames";

export function RolePermissions({ value, onChange, disabled }: { value: bigint; onChange: (v: bigint) => void; disabled?: boolean }) {
  return (
    <div class="perm-groups">
      {PERMISSION_GROUPS.map((group) => (
        <fieldset key={group.title} class="perm-group">
          <legend>{group.title}</legend>
          {group.items.map((item) => {
            const bit = P[item.bit];
            return (
              <label class="perm-row" key={item.bit}>
                <span>{item.label}</span>
                <input
                  type="checkbox"
                  role="switch"
                  name={item.bit}
                  checked={has(value, bit)}
                  disabled={disabled}
                  onChange={(e) => onChange(e.currentTarget.checked ? value | bit : value & ~bit)}
                />
              </label>
            );
          })}
        </fieldset>
      ))}
    </div>
  );
}

export function OverwritePermissions({
  allow,
  deny,
  onChange,
}: {
  allow: bigint;
  deny: bigint;
  onChange: (allow: bigint, deny: bigint) => void;
}) {
  return (
    <div class="perm-groups">
      {PERMISSION_GROUPS.map((group) => {
        const items = group.items.filter((i) => i.channel);
        if (!items.length) return null;
        return (
          <fieldset key={group.title} class="perm-group">
            <legend>{group.title}</legend>
            {items.map((item) => {
              const bit = P[item.bit];
              const state = has(allow, bit) ? "allow" : has(deny, bit) ? "deny" : "inherit";
              const set = (next: string) => {
                const a = next === "allow" ? allow | bit : allow & ~bit;
                const d = next === "deny" ? deny | bit : deny & ~bit;
                onChange(a, d);
              };
              return (
                <div class="perm-row" key={item.bit} role="radiogroup" aria-label={item.label} data-perm={item.bit}>
                  <span>{item.label}</span>
                  <span class="tristate">
                    {(["deny", "inherit", "allow"] as const).map((choice) => (
                      <button
                        type="button"
                        key={choice}
                        role="radio"
                        class={`tri ${choice}`}
                        aria-checked={state === choice}
                        aria-label={`${item.label}: ${choice}`}
                        title={choice === "inherit" ? "Inherit" : choice === "allow" ? "Allow" : "Deny"}
                        onClick={() => set(choice)}
                      >
                        {choice === "deny" ? "✕" : choice === "allow" ? "✓" : "/"}
                      </button>
                    ))}
                  </span>
                </div>
              );
            })}
          </fieldset>
        );
      })}
    </div>
  );
}
