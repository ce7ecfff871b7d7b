// Builds the client into dist/ (docs/browser-client.md): content-hashed bundles under
// dist/assets/ (the origin serves /assets/* as immutable and to any origin, so nothing else may
// go there) and dist/index.html, which is not hashed (served no-cache) and names the hashed
// files; and the lab's dashboard the same way into dist/dashboard/ (docs/observability.md).
// Usage: node build.mjs [outdir]
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, "dist");

// Bundles `entries` (name: source) into <dir>/assets/<name>.<hash>.<ext> under `staging`, then
// writes <dir>/<page> from the template `page` with each {{name}} replaced by its URL (relative
// to <dir>: "/assets/..."). Each entry is one self-contained file (no shared chunks: boot and
// app load from different origins, and a file's name must change whenever its bytes do).
async function bundle(staging, dir, entries, page) {
  const result = await esbuild.build({
    entryPoints: entries,
    absWorkingDir: here,
    bundle: true,
    format: "esm",
    target: ["chrome100", "firefox100", "safari15"],
    minify: true,
    outdir: "assets",
    write: false,
    logLevel: "warning",
  });
  mkdirSync(join(staging, dir, "assets"), { recursive: true });
  // name.<12 hex of SHA-256>.ext: the hex form docs/cdn.md's immutable rule recognises.
  const urls = {};
  for (const file of result.outputFiles) {
    const ext = extname(file.path);
    const name = relative(join(here, "assets"), file.path).slice(0, -ext.length);
    const hash = createHash("sha256").update(file.contents).digest("hex").slice(0, 12);
    const url = `/assets/${name}.${hash}${ext}`;
    writeFileSync(join(staging, dir, url), file.contents);
    urls[name] = url;
  }
  for (const key of Object.keys(entries))
    if (!urls[key]) throw new Error(`build: no output for the ${key} entry point`);
  const html = readFileSync(join(here, page), "utf8").replace(/\{\{([a-z-]+)\}\}/g, (_, key) => {
    if (!urls[key]) throw new Error(`build: ${page} names {{${key}}}, which is not built`);
    return urls[key];
  });
  writeFileSync(join(staging, dir, "index.html"), html);
  return Object.values(urls).map((u) => join(dir, u));
}

// Build into a fresh directory beside the output, then swap it in: a running server or test
// never reads a half-written dist/.
const staging = `${out}.tmp-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
const built = [
  // The client: dist/index.html and dist/assets/ (served by ztm serve).
  ...(await bundle(
    staging,
    "",
    { boot: "src/boot.ts", app: "src/app.ts", style: "src/styles.css" },
    "index.html",
  )),
  // The lab's dashboard: dist/dashboard/ (served by `ztm lab dashboard` on the obs host).
  ...(await bundle(
    staging,
    "dashboard",
    { dashboard: "src/dashboard/main.ts", "dashboard-style": "src/dashboard/dashboard.css" },
    "dashboard.html",
  )),
];

rmSync(out, { recursive: true, force: true });
renameSync(staging, out);
console.log(`web: built ${relative(process.cwd(), out) || "."}: ${built.join(" ")}`);
