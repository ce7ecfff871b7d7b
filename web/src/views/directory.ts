// The user directory, a page at a time: GET /users?after=&limit= (through the CDN); the answer's
// `next` is the next page's path, null on the last page.
import type { Ctx } from "../app";
import { append, h } from "../dom";

export const USERS_PER_PAGE = 10;

export async function directoryView(ctx: Ctx, params: Record<string, string>): Promise<void> {
  const after = /^\d+$/.test(params.after ?? "") ? Number(params.after) : 0;
  const heading = h("h1", { tabindex: -1 }, "Users");
  append(ctx.main, heading);
  const page = await ctx.api.users(`/users?after=${after}&limit=${USERS_PER_PAGE}`);
  const list = h("ul", { class: "users", "aria-label": "Users on this page" });
  for (const u of page.items)
    append(
      list,
      h(
        "li",
        {},
        h("a", { href: `#/users/${u.id}` }, `${u.firstName} ${u.lastName}`),
        h("span", { class: "muted" }, ` · ${u.address.city}`),
      ),
    );
  if (page.items.length === 0) append(list, h("li", {}, "No users here."));
  const nextAfter = page.next
    ? new URL(page.next, location.origin).searchParams.get("after")
    : null;
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    after > 0 ? h("a", { href: "#/users" }, "First page") : null,
    nextAfter ? h("a", { href: `#/users?after=${nextAfter}`, rel: "next" }, "Next page") : null,
  );
  append(ctx.main, list, pager);
  ctx.status(`Showing ${page.items.length} users${after > 0 ? ` after user ${after}` : ""}.`);
}
