// A user's profile (GET /users/{id}, through the CDN) and, for its owner, editing it with
// PUT /users/{id} + If-Match: a 412 means someone saved a newer version since this one was
// loaded; the user sees that, and can reload the latest version.
import { ApiError, describe, type User, type Versioned } from "../api";
import type { Ctx } from "../app";
import { append, clear, h, liveRegion, say } from "../dom";
import { asyncForm } from "./form";
import { gallery } from "./photos";
import { profileFields } from "./profile_form";

// Our ETags are "<version>-<hash>" (the hash covers the follow counts): the larger version is
// the newer.
function version(etag: string | null): number {
  const m = /^"(\d+)(?:-[0-9a-f]+)?"$/.exec(etag ?? "");
  return m ? Number(m[1]) : -1;
}

// A read, unless this page wrote a newer version itself (an edge may serve the older one for a
// moment after a write).
export function newest(ctx: Ctx, read: Versioned<User>): Versioned<User> {
  const written = ctx.latest.get(read.value.id);
  return written && version(written.etag) > version(read.etag) ? written : read;
}

function details(u: User): HTMLElement {
  const a = u.address;
  return h(
    "dl",
    { class: "details" },
    h("dt", {}, "Address"),
    h("dd", {}, `${a.streetAddress}, ${a.city}, ${a.state} ${a.postalCode}`),
    h("dt", {}, "Phone numbers"),
    h("dd", {}, u.phoneNumbers.length ? u.phoneNumbers.join(", ") : "none"),
  );
}

export async function profileView(ctx: Ctx, params: Record<string, string>): Promise<void> {
  const id = Number(params.id);
  const own = ctx.me?.id === id;
  let read = await ctx.api.user(id);
  // Editing needs the version (If-Match); an edge that does not expose the ETag cannot give it.
  if (own && !read.etag) read = await ctx.api.userFromOrigin(id);
  let current = newest(ctx, read);
  const heading = h("h1", { tabindex: -1 }, `${current.value.firstName} ${current.value.lastName}`);
  const shown = h("div", {}, details(current.value));
  append(ctx.main, heading, shown);

  const show = (v: Versioned<User>) => {
    current = v;
    heading.textContent = `${v.value.firstName} ${v.value.lastName}`;
    clear(shown);
    append(shown, details(v.value));
  };

  if (ctx.me?.id === id)
    append(
      ctx.main,
      editForm(ctx, () => current, show),
    );

  append(ctx.main, h("h2", {}, "Photos"), gallery(ctx, id));
}

function editForm(
  ctx: Ctx,
  current: () => Versioned<User>,
  show: (v: Versioned<User>) => void,
): HTMLElement {
  const fields = profileFields("Edit your profile");
  fields.fill(current().value);
  const error = liveRegion("error");
  const conflict = h("div", { class: "conflict", role: "alert", hidden: true });
  const button = h("button", { type: "submit" }, "Save profile");
  const form = h(
    "form",
    { class: "card", "aria-label": "Edit profile" },
    fields.fieldset,
    conflict,
    error,
    button,
  );

  const reload = async () => {
    const latest = await ctx.api.userFromOrigin(current().value.id);
    ctx.latest.set(latest.value.id, latest);
    show(latest);
    fields.fill(latest.value);
    conflict.hidden = true;
    ctx.status("Loaded the latest version. Make your changes again and save.");
    fields.fieldset.querySelector("input")?.focus();
  };

  asyncForm(form, button, error, async () => {
    conflict.hidden = true;
    const p = fields.read();
    if (typeof p === "string") throw new Error(p);
    try {
      const saved = await ctx.api.replaceUser(current().value.id, p, current().etag);
      ctx.latest.set(saved.value.id, saved);
      show(saved); // the write's own answer: an edge may still have the old one
      if (ctx.me?.id === saved.value.id) ctx.setMe(saved.value);
      ctx.status("Profile saved.");
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 412) throw e;
      clear(conflict);
      const again = h("button", { type: "button" }, "Reload the latest version");
      again.addEventListener(
        "click",
        () => void reload().catch((err: unknown) => say(error, describe(err))),
      );
      append(
        conflict,
        h("strong", {}, "Not saved: this profile was changed elsewhere. "),
        "Someone (perhaps you, in another tab) saved a newer version after you opened this page, " +
          "so saving yours would overwrite theirs. Reload the latest version, then make your changes again. ",
        again,
      );
      conflict.hidden = false;
      again.focus();
    }
  });
  return form;
}
