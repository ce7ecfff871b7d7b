// The page's first script, always from the origin (index.html names it): reads the CDN's edges,
// loads the app's styles and code from the preferred edge with the fallback to the origin
// (cdn.ts), and starts the app. Only content-hashed files are loaded from an edge.
import { Cdn, loadCdnConfig } from "./cdn";
import type { AppModule } from "./app";

function meta(name: string): string {
  const v = document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content;
  if (!v) throw new Error(`index.html has no <meta name="${name}">`);
  return v;
}

async function boot(): Promise<void> {
  const config = await loadCdnConfig();
  const cdn = new Cdn(config);
  document.head.appendChild(cdn.stylesheet(meta("ztm-style")));
  const app = await cdn.importModule<AppModule>(meta("ztm-app"));
  // The app builds its own Cdn from the same config: the edge's state lives in sessionStorage.
  app.start(config);
}

boot().catch((e: unknown) => {
  const main = document.getElementById("main");
  if (main) main.textContent = `The page could not start: ${String(e)}. Reload to try again.`;
});
