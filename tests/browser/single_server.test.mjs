// The browser client against one `ztm serve` without a CDN, in headless Chromium: the
// directory's pages, an API error in words, sign up, log out and in, a profile edit and a 412
// conflict, an upload with progress, a crop drawn with the mouse plus sharpen and blur, the
// job to done and its result, the gallery; then a phone-sized pass and a keyboard-only one.
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { assert, launchChromium, noisePng, parseArgs, run, startZtm } from "./harness.mjs";
import {
  applyEdits,
  cropUploaded,
  imageLoaded,
  logIn,
  logOut,
  newUser,
  signUp,
  upload,
} from "./flows.mjs";

const args = parseArgs();

await run(args, "browser single server", async (t) => {
  const server = await startZtm(args, "origin");
  const base = server.url;
  const photo = join(args.out, "noise-800x600.png");
  writeFileSync(photo, noisePng(800, 600, 7));
  const browser = await launchChromium(args);
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(10_000);
  const page = t.track(await context.newPage());
  const u = newUser("single");
  let me = 0;

  await t.step("directory: the first page, then the next ones", async () => {
    await page.goto(base);
    await page.getByRole("heading", { name: "Users" }).waitFor();
    const links = page.getByRole("list", { name: "Users on this page" }).getByRole("link");
    // The users on the page, by id (the demo names repeat).
    const ids = async () => await links.evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    await links.first().waitFor();
    // Waits until the list shows another page than `before` (it is empty while loading).
    const pageAfter = (before) =>
      page.waitForFunction((f) => {
        const a = document.querySelector(".users a");
        return a !== null && a.getAttribute("href") !== f;
      }, before[0]);
    const first = await ids();
    assert(first.length === 10, `10 users on the first page (got ${first.length})`);
    await t.shot(page, "directory");
    await page.getByRole("link", { name: "Next page" }).click();
    await page.waitForURL(/#\/users\?after=\d+$/);
    await pageAfter(first);
    const second = await ids();
    assert(
      second.length === 10 && !second.some((n) => first.includes(n)),
      "the second page has 10 other users",
    );
    await page.getByRole("link", { name: "Next page" }).click();
    await pageAfter(second);
    const third = await ids();
    assert(third.length === 2, `22 demo users: 2 on the third page (got ${third.length})`);
    assert(
      (await page.getByRole("link", { name: "Next page" }).count()) === 0,
      "no next page after the last",
    );
  });

  await t.step("an API error is shown in words", async () => {
    await page.goto(`${base}/#/login`);
    await page.getByLabel("Email").fill("nobody@example.com");
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Log in" }).click();
    const err = page
      .getByRole("alert")
      .filter({ hasText: "Email or password is wrong (HTTP 401)" });
    await err.waitFor();
    await page.goto(`${base}/#/signup`);
    await page.getByLabel("Email").fill("common@example.com");
    await page.getByLabel("Password", { exact: true }).fill("password");
    for (const [label, v] of [
      ["First name", "A"],
      ["Last name", "B"],
      ["Street address", "C"],
      ["City", "D"],
      ["State", "E"],
      ["Postal code", "1"],
    ])
      await page.getByLabel(label).fill(v);
    await page.getByRole("button", { name: "Sign up" }).click();
    await page
      .getByRole("alert")
      .filter({
        hasText: "one of the most common passwords; choose another (HTTP 422)",
      })
      .waitFor();
    await t.shot(page, "error-in-words");
  });

  await t.step("sign up, log out, log in", async () => {
    await signUp(page, base, u);
    await logOut(page);
    await logIn(page, base, u);
    me = await page.evaluate(async () => (await (await fetch("/me")).json()).id);
    assert(me > 0, "GET /me names the user");
  });

  await t.step("profile: edit and save", async () => {
    await page.getByRole("link", { name: "My profile" }).click();
    await page.getByRole("heading", { name: `${u.firstName} ${u.lastName}` }).waitFor();
    await page.getByLabel("City").fill("Newtown");
    await page.getByRole("button", { name: "Save profile" }).click();
    await page.getByText("Profile saved.").waitFor();
    await page
      .locator(".details")
      .getByText(/Newtown/)
      .waitFor();
  });

  await t.step("profile: a conflicting write elsewhere is a 412 shown clearly", async () => {
    // Another writer (the API directly, with the same session) changes the profile after the
    // page loaded it.
    const doc = await (await page.request.get(`${base}/users/${me}`)).json();
    const res = await page.request.put(`${base}/users/${me}`, {
      headers: { "If-Match": "*", "Content-Type": "application/json" },
      data: {
        ...doc,
        id: undefined,
        address: { ...doc.address, city: "Elsewhere" },
      },
    });
    assert(res.status() === 200, `the direct PUT succeeded (got ${res.status()})`);
    await page.getByLabel("State").fill("XX");
    await page.getByRole("button", { name: "Save profile" }).click();
    const conflict = page.locator(".conflict");
    await conflict.getByText("Not saved: this profile was changed elsewhere.").waitFor();
    assert(await conflict.isVisible(), "the conflict is visible");
    await t.shot(page, "conflict-412");
    await page.getByRole("button", { name: "Reload the latest version" }).click();
    await page.waitForFunction(() => document.querySelector(".conflict")?.hidden === true);
    assert(
      (await page.getByLabel("City").inputValue()) === "Elsewhere",
      "the form holds the other write",
    );
    await page.getByLabel("State").fill("XX");
    await page.getByRole("button", { name: "Save profile" }).click();
    await page.getByText("Profile saved.").waitFor();
    await page
      .locator(".details")
      .getByText(/Elsewhere, XX/)
      .waitFor();
  });

  let photoId = 0;
  await t.step("upload with a progress bar", async () => {
    // Throttle the upload so the progress bar has steps to show (1.4 MB at 4 MB/s).
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 4 * 1024 * 1024,
    });
    const { id, progress } = await upload(page, photo);
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    photoId = id;
    console.log(`     progress values: ${progress.join(" ")}`);
    assert(progress.at(-1) === 100, "the progress bar ends at 100");
    assert(
      progress.some((v) => v > 0 && v < 100),
      "the progress bar showed a step between 0 and 100",
    );
    const thumb = page.locator(`li[data-photo-id="${id}"] img`);
    await thumb.waitFor();
    assert(await imageLoaded(thumb), "the gallery shows the uploaded photo");
    await t.shot(page, "uploaded");
  });

  let resultId = 0;
  await t.step("crop with a drawn selection, sharpen, blur: the job's result", async () => {
    const { crop, resultId: r } = await cropUploaded(page, photoId, {
      sharpen: true,
      blur: true,
    });
    assert(
      crop.width >= 350 && crop.width <= 450 && crop.height >= 250 && crop.height <= 350,
      `the drawn selection is about 400x300 photo pixels (got ${JSON.stringify(crop)})`,
    );
    resultId = r;
    await t.shot(page, "edit-result");
  });

  await t.step("gallery: the upload and the result", async () => {
    await page.getByRole("link", { name: "My photos" }).click();
    for (const id of [photoId, resultId]) {
      const img = page.locator(`.gallery li[data-photo-id="${id}"] img`);
      await img.waitFor();
      assert(await imageLoaded(img), `photo ${id} shows in the gallery`);
    }
    await t.shot(page, "gallery");
  });

  await t.step("log out", async () => {
    await logOut(page);
    const status = await page.evaluate(async () => (await fetch("/me")).status);
    assert(status === 401, `GET /me after logging out is 401 (got ${status})`);
  });

  await t.step("phone-sized screen (390x844, touch)", async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 2,
    });
    phone.setDefaultTimeout(10_000);
    const p = t.track(await phone.newPage());
    const fits = () =>
      p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
    await p.goto(base);
    await p.getByRole("heading", { name: "Users" }).waitFor();
    assert(await fits(), "the directory fits the phone's width");
    await logIn(p, base, u);
    const { id } = await upload(p, photo);
    assert(await fits(), "My photos fits the phone's width");
    await p.getByRole("link", { name: `Edit photo ${id}` }).tap();
    await p.getByRole("heading", { name: `Photo ${id}` }).waitFor();
    assert(await imageLoaded(p.locator(".stage img")), "the photo shows on the phone");
    assert(await fits(), "the editor fits the phone's width");
    // The crop typed into the fields (the way without a pointer), shown on the photo.
    await p.getByLabel("Left (x)").fill("100");
    await p.getByLabel("Top (y)").fill("50");
    await p.getByLabel("Width", { exact: true }).fill("300");
    await p.getByLabel("Height", { exact: true }).fill("200");
    assert(await p.locator(".selection").isVisible(), "the typed selection is drawn on the photo");
    const result = await applyEdits(p, {});
    const natural = await result.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
    assert(
      natural[0] === 300 && natural[1] === 200,
      `the typed crop's result is 300x200 (got ${natural})`,
    );
    await t.shot(p, "phone-editor");
    await phone.close();
  });

  await t.step("keyboard only: log in, focus visible", async () => {
    const kb = await browser.newContext({
      viewport: { width: 1024, height: 768 },
    });
    kb.setDefaultTimeout(10_000);
    const p = t.track(await kb.newPage());
    await p.goto(`${base}/#/login`);
    await p.getByRole("heading", { name: "Log in" }).waitFor();
    const focused = () =>
      p.evaluate(() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return {
          name: el.getAttribute("name") ?? el.textContent,
          tag: el.tagName,
          outline: style.outlineStyle,
          width: style.outlineWidth,
        };
      });
    // Tab from the top of the page to the email field (a bounded number of presses).
    let f;
    for (let i = 0; i < 12; i++) {
      await p.keyboard.press("Tab");
      f = await focused();
      if (f.name === "email") break;
    }
    assert(f.name === "email", "Tab reaches the email field");
    assert(
      f.outline !== "none" && f.width !== "0px",
      `the focus is visible (outline ${f.outline} ${f.width})`,
    );
    await p.keyboard.type(u.email);
    await p.keyboard.press("Tab");
    assert((await focused()).name === "password", "Tab goes on to the password");
    await p.keyboard.type(u.password);
    await p.keyboard.press("Tab");
    f = await focused();
    assert(f.tag === "BUTTON" && f.name === "Log in", "then to the Log in button");
    assert(f.outline !== "none", "the button's focus is visible");
    await t.shot(p, "keyboard-focus");
    await p.keyboard.press("Enter");
    await p.getByRole("button", { name: "Log out" }).waitFor();
    await kb.close();
  });
});
