// Builds the client into dist/ (docs/browser-client.md): content-hashed bundles under
// dist/assets/ (the origin serves /assets/* as immutable and to any origin, so nothing else may
// go there) and dist/index.html, which is not hashed (served no-cache) and names the hashed
// files. Usage: node build.mjs [outdir]
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, "dist");

// Each entry is one self-contained file (no shared chunks: boot and app load from different
// origins, and a file's name must change whenever its bytes do).
const result = await esbuild.build({
  entryPoints: { boot: "src/boot.ts", app: "src/app.ts", style: "src/styles.css" },
  absWorkingDir: here,
  bundle: true,
  format: "esm",
  target: ["chrome100", "firefox100", "safari15"],
  minify: true,
  outdir: "assets",
  write: false,
  logLevel: "warning",
});

// Build into a fresh directory beside the output, then swap it in: a running server or test
// never reads a half-written dist/.
const staging = `${out}.tmp-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
mkdirSync(join(staging, "assets"), { recursive: true });
// name.<12 hex of SHA-256>.ext: the hex form docs/cdn.md's immutable rule recognises.
const urls = {};
for (const file of result.outputFiles) {
  const ext = extname(file.path);
  const name = relative(join(here, "assets"), file.path).slice(0, -ext.length);
  const hash = createHash("sha256").update(file.contents).digest("hex").slice(0, 12);
  const url = `/assets/${name}.${hash}${ext}`;
  writeFileSync(join(staging, url), file.contents);
  urls[name] = url;
}
for (const key of ["boot", "app", "style"])
  if (!urls[key]) throw new Error(`build: no output for the ${key} entry point`);

const html = readFileSync(join(here, "index.html"), "utf8").replace(
  /\{\{(boot|app|style)\}\}/g,
  (_, key) => urls[key],
);
writeFileSync(join(staging, "index.html"), html);

rmSync(out, { recursive: true, force: true });
renameSync(staging, out);
console.log(`web: built ${relative(process.cwd(), out) || "."}: ${Object.values(urls).join(" ")}`);
