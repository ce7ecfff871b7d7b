// A user's photos: the gallery (GET /users/{id}/photos?after=&limit=, through the CDN, merged
// with the photos uploaded in this session, which a listing may not show yet) and, on "My
// photos", the upload form with its progress bar.
import { ApiError, describe, type Photo } from "../api";
import type { Ctx } from "../app";
import { append, clear, field, h, liveRegion, say } from "../dom";
import { uploadPhoto } from "../upload";

export const PHOTOS_PER_PAGE = 12;

export function thumbnail(ctx: Ctx, p: Photo): HTMLElement {
  const img = h("img", {
    alt: `Photo ${p.id}, ${p.width}×${p.height}`,
    width: p.width,
    height: p.height,
    loading: "lazy",
    decoding: "async",
  });
  ctx.cdn.image(img, p.url);
  return h(
    "li",
    { "data-photo-id": p.id },
    h(
      "a",
      { href: `#/photos/${p.id}` },
      img,
      h("span", {}, `Photo ${p.id} · ${p.width}×${p.height}`),
    ),
  );
}

export interface Gallery extends HTMLElement {
  ztmAdd?: (p: Photo) => void;
}

// The gallery of `owner`'s photos. Loads its first page at once; "More photos" loads the next.
export function gallery(ctx: Ctx, owner: number): Gallery {
  const root: Gallery = h("section", { class: "gallery", "aria-label": "Photos" });
  const list = h("ul", { class: "thumbs" });
  const note = liveRegion("status");
  const error = liveRegion("error");
  const more = h("button", { type: "button", hidden: true }, "More photos");
  append(root, list, note, error, more);
  const shown = new Set<number>();
  const add = (p: Photo, first: boolean) => {
    if (shown.has(p.id)) return;
    shown.add(p.id);
    const item = thumbnail(ctx, p);
    if (first) list.prepend(item);
    else list.appendChild(item);
  };
  root.ztmAdd = (p) => add(p, true);

  let next: string | null = `/users/${owner}/photos?limit=${PHOTOS_PER_PAGE}`;
  const load = async () => {
    if (!next) return;
    more.disabled = true;
    say(error, "");
    try {
      const page = await ctx.api.photos(next);
      for (const p of page.items) add(p, false);
      next = page.next;
    } catch (e) {
      // An origin without the listing route (404 "no route", or 405: only POST is routed):
      // this session's uploads only.
      const noRoute =
        e instanceof ApiError &&
        ((e.status === 404 && /^no route/.test(e.message)) || e.status === 405);
      if (noRoute) next = null;
      else say(error, `The photos could not be loaded: ${describe(e)}`);
    } finally {
      more.disabled = false;
      more.hidden = !next;
      say(note, shown.size === 0 ? "No photos yet." : `${shown.size} photos shown.`);
    }
  };
  for (const p of ctx.uploads.list(owner)) add(p, false);
  void load();
  more.addEventListener("click", () => void load());
  return root;
}

export function myPhotosView(ctx: Ctx): void {
  const me = ctx.me;
  append(ctx.main, h("h1", { tabindex: -1 }, "My photos"));
  if (!me) {
    append(
      ctx.main,
      h("p", {}, h("a", { href: "#/login" }, "Log in"), " to upload and edit photos."),
    );
    return;
  }
  const file = field(
    "Photo to upload",
    { name: "photo", type: "file", accept: "image/jpeg,image/png,image/webp", required: true },
    "A JPEG, PNG or WebP image.",
  );
  const progress = h("progress", {
    max: 100,
    value: 0,
    "aria-label": "Upload progress",
    hidden: true,
  });
  const percent = h("span", { class: "percent", "aria-hidden": "true" });
  const status = liveRegion("status");
  const error = liveRegion("error");
  const done = h("p", { class: "uploaded" });
  const button = h("button", { type: "submit" }, "Upload");
  const form = h(
    "form",
    { class: "card", "aria-label": "Upload a photo" },
    file.row,
    h("div", { class: "progress" }, progress, percent),
    status,
    error,
    button,
  );
  const photos = gallery(ctx, me.id);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = file.input.files?.[0];
    if (!chosen || button.disabled) return;
    button.disabled = true;
    say(error, "");
    clear(done);
    progress.hidden = false;
    progress.value = 0;
    let announced = -1;
    say(status, `Uploading ${chosen.name}…`);
    uploadPhoto(me.id, chosen, (sent, total) => {
      const pct = Math.round((100 * sent) / total);
      progress.value = pct;
      percent.textContent = `${pct}%`;
      // Announce every quarter, not every event: a screen reader would read them all.
      if (Math.floor(pct / 25) > announced) {
        announced = Math.floor(pct / 25);
        say(status, `Uploading ${chosen.name}: ${pct}%`);
      }
    })
      .then((photo) => {
        progress.value = 100;
        percent.textContent = "100%";
        ctx.uploads.add(photo);
        photos.ztmAdd?.(photo);
        say(status, `Uploaded: photo ${photo.id}, ${photo.width}×${photo.height}.`);
        append(done, h("a", { href: `#/photos/${photo.id}` }, `Edit photo ${photo.id}`));
        form.reset();
      })
      .catch((err: unknown) => {
        say(status, "");
        say(error, `The upload failed: ${describe(err)}`);
      })
      .finally(() => (button.disabled = false));
  });

  append(ctx.main, form, done, h("h2", {}, "Gallery"), photos);
}
