// A few DOM helpers: elements built in code (no innerHTML, no inline handlers: the page's CSP
// forbids inline scripts and styles, and text from the API is never parsed as HTML).

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

// h("label", {for: "email"}, "Email"): an element with attributes (false/null/undefined ones
// left out, true ones empty) and children (strings become text nodes).
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

let nextId = 0;
// A labelled input: the <label for> names it for screen readers and grows its click target.
export function field(
  label: string,
  attrs: Attrs & { name: string },
  hint?: string,
): { row: HTMLDivElement; input: HTMLInputElement } {
  const id = `f${++nextId}-${attrs.name}`;
  const hintId = hint ? `${id}-hint` : undefined;
  const input = h("input", { id, "aria-describedby": hintId, ...attrs });
  const row = h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("small", { id: hintId }, hint) : null,
  );
  return { row, input };
}

// A paragraph that announces what it is given (errors of one form, a job's status...).
export function liveRegion(kind: "error" | "status"): HTMLParagraphElement {
  return kind === "error"
    ? h("p", { class: "error", role: "alert", hidden: true })
    : h("p", { class: "status", role: "status", "aria-live": "polite" });
}

export function say(region: HTMLElement, text: string): void {
  region.textContent = text;
  region.hidden = text === "";
}
