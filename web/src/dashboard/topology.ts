// The stage's topology drawn as the chapter's figures: one row per tier, from the edge the
// clients reach down to the data and the observers; a box per host with its name, address,
// roles, processes and health. Redrawn from every status the page reads (once a second).
import { append, clear, h } from "../dom";
import { healthy, type LabHost, type LabStatus } from "./status";

// Tiers top to bottom, as a request travels; a host sits in the tier of its first role.
const TIERS: [string, string][] = [
  ["edge", "CDN edges"],
  ["lb", "Load balancer"],
  ["web", "Web tier"],
  ["queue", "Message queue"],
  ["worker", "Workers"],
  ["cache", "Cache"],
  ["sessions", "Session store"],
  ["sentinel", "Sentinels"],
  ["db", "Database"],
  ["dcs", "Consensus (etcd)"],
  ["obs", "Monitoring"],
];

function tierOf(host: LabHost): string {
  return host.roles[0] ?? "other";
}

function processLine(host: LabHost, p: LabHost["processes"][number]): HTMLLIElement {
  const ok = p.state === "running" && p.healthy;
  const name = p.name.startsWith(`${host.name}/`) ? p.name.slice(host.name.length + 1) : p.name;
  const state = ok ? "healthy" : p.state === "running" ? "unhealthy" : p.state;
  return h("li", { class: ok ? "ok" : "bad" }, `${name}: ${state}${p.exit ? ` (${p.exit})` : ""}`);
}

function hostBox(host: LabHost, rps: Map<string, number>): HTMLElement {
  const ok = healthy(host);
  const load = rps.get(host.name);
  return h(
    "article",
    {
      class: `host ${ok ? "ok" : "bad"}`,
      "data-host": host.name,
      "data-health": ok ? "ok" : "bad",
      "aria-label": `${host.name} ${ok ? "healthy" : "not healthy"}`,
    },
    h("h3", {}, host.name, h("span", { class: "badge" }, ok ? "healthy" : "down")),
    h(
      "p",
      { class: "address" },
      host.address,
      host.public_address ? ` · public ${host.public_address}` : "",
    ),
    h(
      "p",
      { class: "roles" },
      host.roles.join(", "),
      host.role && !host.roles.includes(host.role) ? ` · ${host.role}` : "",
    ),
    load === undefined
      ? null
      : h("p", { class: "rps", "data-rps": load.toFixed(1) }, `${load.toFixed(1)} req/s`),
    h("ul", { class: "processes" }, ...host.processes.map((p) => processLine(host, p))),
  );
}

// Draws `status` into `root`. `rps`: requests/s per host name (web hosts), from Prometheus.
export function drawTopology(root: HTMLElement, status: LabStatus, rps: Map<string, number>): void {
  const byTier = new Map<string, LabHost[]>();
  for (const host of status.hosts) {
    const tier = tierOf(host);
    byTier.set(tier, [...(byTier.get(tier) ?? []), host]);
  }
  const known = new Set(TIERS.map(([role]) => role));
  const tiers = [
    ...TIERS,
    ...[...byTier.keys()].filter((t) => !known.has(t)).map((t): [string, string] => [t, t]),
  ];
  clear(root);
  append(root, h("p", { class: "clients" }, `Clients → ${status.url}`));
  for (const [role, title] of tiers) {
    const hosts = byTier.get(role);
    if (!hosts) continue;
    append(
      root,
      h(
        "section",
        { class: "tier", "data-tier": role, "aria-label": title },
        h("h2", {}, title),
        h("div", { class: "hosts" }, ...hosts.map((host) => hostBox(host, rps))),
      ),
    );
  }
}
