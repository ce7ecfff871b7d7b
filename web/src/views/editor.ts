// One photo (GET /photos/{id}, through the CDN) and, for its owner, its edits: a crop drawn on
// the image (pointer events: mouse, pen and touch) or typed into four number fields (the
// keyboard way), sharpen and blur; POST /photos/{id}/edits queues a job, GET /jobs/{id} is
// polled (bounded) until it is done or failed, and the result is shown.
import { describe, type Job, type Operation, type Photo } from "../api";
import type { Ctx } from "../app";
import { append, clear, field, h, liveRegion, say } from "../dom";
import { asyncForm } from "./form";

// Polling a job: first after 250 ms, then 1.5 times longer each time up to 2 s, for at most 2
// minutes (then the user may check again).
const POLL_FIRST_MS = 250;
const POLL_MAX_MS = 2000;
const POLL_FOR_MS = 120_000;

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

const STATUS_WORDS: Record<Job["status"], string> = {
  queued: "waiting for a worker",
  running: "being edited by a worker",
  done: "done",
  failed: "failed",
};

export async function photoView(ctx: Ctx, params: Record<string, string>): Promise<void> {
  const photo = await ctx.api.photo(Number(params.id));
  const img = h("img", {
    alt: `Photo ${photo.id}`,
    width: photo.width,
    height: photo.height,
    draggable: "false",
  });
  ctx.cdn.image(img, photo.url);
  const selection = h("div", { class: "selection", hidden: true, "aria-hidden": "true" });
  const stage = h("div", { class: "stage" }, img, selection);
  append(
    ctx.main,
    h("h1", { tabindex: -1 }, `Photo ${photo.id}`),
    h(
      "p",
      { class: "muted" },
      `${photo.width}×${photo.height} pixels, ${Math.round(photo.bytes / 1024)} KiB`,
      photo.sourceId ? " · edited from " : "",
      photo.sourceId
        ? h("a", { href: `#/photos/${photo.sourceId}` }, `photo ${photo.sourceId}`)
        : "",
      " · ",
      h("a", { href: `#/users/${photo.ownerId}` }, "owner's profile"),
    ),
    stage,
  );
  if (ctx.me?.id === photo.ownerId) append(ctx.main, editForm(ctx, photo, img, stage, selection));
}

function clampRect(r: Rect, photo: Photo): Rect {
  const x = Math.min(Math.max(0, Math.round(r.x)), photo.width - 1);
  const y = Math.min(Math.max(0, Math.round(r.y)), photo.height - 1);
  return {
    x,
    y,
    width: Math.min(Math.max(1, Math.round(r.width)), photo.width - x),
    height: Math.min(Math.max(1, Math.round(r.height)), photo.height - y),
  };
}

// A filter's checkbox and its strength (sigma, 0.1 to 100: src/media/operations.cc).
function filter(op: "sharpen" | "blur", label: string, sigma: number) {
  const on = h("input", { type: "checkbox", id: `${op}-on`, name: op });
  const strength = field(`${label} strength (sigma)`, {
    name: `${op}Sigma`,
    type: "number",
    min: 0.1,
    max: 100,
    step: 0.1,
    value: sigma,
  });
  const row = h(
    "div",
    {},
    h("div", { class: "check" }, on, h("label", { for: `${op}-on` }, label)),
    strength.row,
  );
  return { on, sigma: strength.input, row };
}

function editForm(
  ctx: Ctx,
  photo: Photo,
  img: HTMLImageElement,
  stage: HTMLElement,
  selection: HTMLElement,
): HTMLElement {
  const crop = h("input", { type: "checkbox", id: "crop-on", name: "crop" });
  const num = (label: string, name: string, max: number) =>
    field(label, { name, type: "number", min: 0, max, step: 1, inputmode: "numeric" });
  const x = num("Left (x)", "x", photo.width - 1);
  const y = num("Top (y)", "y", photo.height - 1);
  const w = num("Width", "width", photo.width);
  const ht = num("Height", "height", photo.height);
  const sharpen = filter("sharpen", "Sharpen", 1);
  const blur = filter("blur", "Blur", 2);
  const selectAll = h("button", { type: "button" }, "Select the whole photo");
  const clearSel = h("button", { type: "button" }, "Clear the selection");
  const error = liveRegion("error");
  const jobStatus = liveRegion("status");
  jobStatus.classList.add("job");
  const result = h("div", { class: "result" });
  const button = h("button", { type: "submit" }, "Apply edits");
  const form = h(
    "form",
    { class: "card", "aria-label": "Edit the photo" },
    h(
      "fieldset",
      {},
      h("legend", {}, "Crop"),
      h(
        "p",
        { class: "hint", id: "crop-hint" },
        "Draw a rectangle on the photo (mouse or finger), or type it in pixels here.",
      ),
      h("div", { class: "check" }, crop, h("label", { for: "crop-on" }, "Crop to the selection")),
      h("div", { class: "grid4" }, x.row, y.row, w.row, ht.row),
      h("div", { class: "row" }, selectAll, clearSel),
    ),
    h("fieldset", {}, h("legend", {}, "Filters"), sharpen.row, blur.row),
    error,
    button,
    jobStatus,
    result,
  );

  // The selection, in the photo's pixels (the source of truth); drawn scaled to the image's
  // size on screen.
  let sel: Rect | null = null;
  const scale = () => (img.clientWidth > 0 ? img.clientWidth / photo.width : 1);
  const draw = () => {
    selection.hidden = !sel;
    if (!sel) return;
    const s = scale();
    selection.style.left = `${sel.x * s}px`;
    selection.style.top = `${sel.y * s}px`;
    selection.style.width = `${sel.width * s}px`;
    selection.style.height = `${sel.height * s}px`;
  };
  const setSelection = (r: Rect | null, fromInputs = false) => {
    sel = r && clampRect(r, photo);
    if (!fromInputs) {
      x.input.value = sel ? String(sel.x) : "";
      y.input.value = sel ? String(sel.y) : "";
      w.input.value = sel ? String(sel.width) : "";
      ht.input.value = sel ? String(sel.height) : "";
    }
    crop.checked = !!sel;
    draw();
  };
  for (const f of [x, y, w, ht])
    f.input.addEventListener("input", () => {
      const v = [x, y, w, ht].map((g) => Number(g.input.value));
      if ([x, y, w, ht].some((g) => g.input.value === "") || v.some((n) => !Number.isFinite(n)))
        return;
      setSelection({ x: v[0], y: v[1], width: v[2], height: v[3] }, true);
    });
  selectAll.addEventListener("click", () =>
    setSelection({ x: 0, y: 0, width: photo.width, height: photo.height }),
  );
  clearSel.addEventListener("click", () => setSelection(null));
  window.addEventListener("resize", draw);
  img.addEventListener("load", draw);

  // Drawing with a pointer: from where it went down to where it is, in the photo's pixels.
  let origin: { x: number; y: number } | null = null;
  const at = (e: PointerEvent) => {
    const box = img.getBoundingClientRect();
    const s = scale();
    return { x: (e.clientX - box.left) / s, y: (e.clientY - box.top) / s };
  };
  stage.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    origin = at(e);
    stage.setPointerCapture(e.pointerId);
  });
  stage.addEventListener("pointermove", (e) => {
    if (!origin) return;
    const p = at(e);
    setSelection({
      x: Math.min(origin.x, p.x),
      y: Math.min(origin.y, p.y),
      width: Math.abs(p.x - origin.x),
      height: Math.abs(p.y - origin.y),
    });
  });
  const end = () => {
    if (!origin) return;
    origin = null;
    if (sel && sel.width * scale() >= 4 && sel.height * scale() >= 4)
      ctx.status(`Selected ${sel.width}×${sel.height} pixels at (${sel.x}, ${sel.y}).`);
    else setSelection(null);
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);

  asyncForm(form, button, error, async () => {
    const ops: Operation[] = [];
    if (crop.checked) {
      if (!sel) throw new Error("Crop: draw a selection on the photo or type its numbers first.");
      ops.push({ op: "crop", ...sel });
    }
    if (sharpen.on.checked) ops.push({ op: "sharpen", sigma: Number(sharpen.sigma.value) });
    if (blur.on.checked) ops.push({ op: "blur", sigma: Number(blur.sigma.value) });
    if (ops.length === 0) throw new Error("Choose at least one edit: crop, sharpen or blur.");
    clear(result);
    const jobId = await ctx.api.edit(photo.id, ops);
    say(jobStatus, `Job ${jobId}: queued.`);
    await follow(ctx, jobId, form, jobStatus, error, result);
  });
  return form;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Polls the job until done or failed, for at most POLL_FOR_MS, while the form is on the page.
async function follow(
  ctx: Ctx,
  jobId: number,
  form: HTMLElement,
  status: HTMLElement,
  error: HTMLElement,
  result: HTMLElement,
): Promise<void> {
  const until = Date.now() + POLL_FOR_MS;
  let wait = POLL_FIRST_MS;
  let last = "";
  while (form.isConnected) {
    let job: Job | null = null;
    try {
      job = await ctx.api.job(jobId);
    } catch (e) {
      say(error, `The job's status could not be read (${describe(e)}); trying again.`);
    }
    if (job) {
      say(error, "");
      const words = `Job ${jobId}: ${STATUS_WORDS[job.status]}${job.attempts > 1 ? ` (attempt ${job.attempts})` : ""}.`;
      if (words !== last) say(status, (last = words));
      if (job.status === "done" && job.result) {
        showResult(ctx, job.result, result);
        return;
      }
      if (job.status === "failed") {
        say(error, `The edit failed: ${job.error ?? "the worker gave no reason"}.`);
        return;
      }
    }
    if (Date.now() + wait > until) {
      const again = h("button", { type: "button" }, "Check the job again");
      again.addEventListener("click", () => {
        again.remove();
        void follow(ctx, jobId, form, status, error, result);
      });
      say(
        status,
        `${last} Still not finished after ${POLL_FOR_MS / 1000} s; it continues on the server.`,
      );
      result.appendChild(again);
      return;
    }
    await sleep(wait);
    wait = Math.min(POLL_MAX_MS, wait * 1.5);
  }
}

function showResult(ctx: Ctx, photo: Photo, into: HTMLElement): void {
  ctx.uploads.add(photo);
  const img = h("img", {
    alt: `The edited photo ${photo.id}, ${photo.width}×${photo.height}`,
    width: photo.width,
    height: photo.height,
  });
  ctx.cdn.image(img, photo.url);
  clear(into);
  append(
    into,
    h("h2", {}, "Result"),
    h(
      "figure",
      {},
      img,
      h(
        "figcaption",
        {},
        `Photo ${photo.id}, ${photo.width}×${photo.height} pixels. `,
        h("a", { href: `#/photos/${photo.id}` }, "Open the result to edit it further"),
      ),
    ),
  );
}
