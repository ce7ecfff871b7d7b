// The user's flows through the client, shared by the browser tests. Locators are by role and
// label (what a screen reader user finds), so an unlabelled control fails the tests too.
import { assert } from "./harness.mjs";

let users = 0;

export function newUser(tag) {
  users += 1;
  return {
    email: `${tag}-${process.pid}-${users}@example.com`,
    password: `long enough ${users} ${process.pid}`,
    firstName: `Ada${users}`,
    lastName: `Tester-${tag}`,
    street: "1 Test Street",
    city: "Testville",
    state: "TS",
    postalCode: "12345",
  };
}

export async function signUp(page, base, u) {
  await page.goto(`${base}/#/signup`);
  await page.getByLabel("Email").fill(u.email);
  await page.getByLabel("Password", { exact: true }).fill(u.password);
  await page.getByLabel("First name").fill(u.firstName);
  await page.getByLabel("Last name").fill(u.lastName);
  await page.getByLabel("Street address").fill(u.street);
  await page.getByLabel("City").fill(u.city);
  await page.getByLabel("State").fill(u.state);
  await page.getByLabel("Postal code").fill(u.postalCode);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("heading", { name: "My photos" }).waitFor();
  await page.getByRole("button", { name: "Log out" }).waitFor();
}

export async function logIn(page, base, u) {
  await page.goto(`${base}/#/login`);
  await page.getByLabel("Email").fill(u.email);
  await page.getByLabel("Password").fill(u.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor();
}

export async function logOut(page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("heading", { name: "Log in" }).waitFor();
  await page.getByRole("link", { name: "Sign up" }).first().waitFor();
}

// Uploads `file` from "My photos"; returns the new photo's id and the progress values seen.
export async function upload(page, file) {
  await page.getByRole("link", { name: "My photos" }).click();
  await page.getByRole("heading", { name: "My photos" }).waitFor();
  // Record every value the progress bar takes (value is a reflected attribute).
  await page.evaluate(() => {
    const bar = document.querySelector("progress");
    window.__progress = [];
    new MutationObserver(() => window.__progress.push(Number(bar.getAttribute("value")))).observe(
      bar,
      {
        attributes: true,
        attributeFilter: ["value"],
      },
    );
  });
  await page.getByLabel("Photo to upload").setInputFiles(file);
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  const done = page.getByText(/^Uploaded: photo \d+/);
  await done.waitFor({ timeout: 20_000 });
  const id = Number(/photo (\d+)/.exec(await done.textContent())[1]);
  const progress = await page.evaluate(() => window.__progress);
  return { id, progress };
}

// True when the <img> has loaded (a decoded image has a natural width).
export async function imageLoaded(locator) {
  return locator.evaluate(
    (img) =>
      new Promise((resolve) => {
        const ok = () => resolve(img.complete && img.naturalWidth > 0);
        if (img.complete && img.naturalWidth > 0) return resolve(true);
        img.addEventListener("load", ok, { once: true });
        setTimeout(ok, 8000);
      }),
  );
}

// Drags a selection on the photo with the mouse, from (fx0, fy0) to (fx1, fy1) as fractions of
// its size on screen; returns the crop the form now holds.
export async function drawSelection(page, fx0, fy0, fx1, fy1) {
  const img = page.locator(".stage img");
  await until_loaded(img);
  const box = await img.boundingBox();
  await page.mouse.move(box.x + box.width * fx0, box.y + box.height * fy0);
  await page.mouse.down();
  for (let i = 1; i <= 5; i++)
    await page.mouse.move(
      box.x + box.width * (fx0 + ((fx1 - fx0) * i) / 5),
      box.y + box.height * (fy0 + ((fy1 - fy0) * i) / 5),
    );
  await page.mouse.up();
  return readCrop(page);
}

async function until_loaded(img) {
  assert(await imageLoaded(img), "the photo in the editor loaded");
}

export async function readCrop(page) {
  const v = async (label) => Number(await page.getByLabel(label, { exact: true }).inputValue());
  return {
    x: await v("Left (x)"),
    y: await v("Top (y)"),
    width: await v("Width"),
    height: await v("Height"),
  };
}

// Applies the checked edits and waits for the job to be done; returns the result's <img>.
export async function applyEdits(page, { sharpen = false, blur = false } = {}) {
  if (sharpen) await page.getByLabel("Sharpen", { exact: true }).check();
  if (blur) await page.getByLabel("Blur", { exact: true }).check();
  await page.getByRole("button", { name: "Apply edits" }).click();
  await page.getByText(/^Job \d+: done\.$/).waitFor({ timeout: 30_000 });
  const result = page.locator(".result figure img");
  await result.waitFor();
  assert(await imageLoaded(result), "the edited photo loaded (naturalWidth > 0)");
  return result;
}

// From "My photos" right after an upload: opens the photo, draws a crop over its middle, applies
// it (with the given filters) and waits for the result; returns the crop and the result's size.
export async function cropUploaded(page, id, filters = {}) {
  await page.getByRole("link", { name: `Edit photo ${id}` }).click();
  await page.getByRole("heading", { name: `Photo ${id}` }).waitFor();
  const crop = await drawSelection(page, 0.25, 0.2, 0.75, 0.7);
  assert(await page.getByLabel("Crop to the selection").isChecked(), "drawing checks 'Crop'");
  const result = await applyEdits(page, filters);
  const natural = await result.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert(
    natural[0] === crop.width && natural[1] === crop.height,
    `the result is the crop's size (${natural} vs ${crop.width}x${crop.height})`,
  );
  const resultId = Number(await result.evaluate((img) => /photo (\d+)/.exec(img.alt)[1]));
  return { crop, resultId };
}

// The page shows no error (every alert region empty or hidden).
export async function noErrorShown(page) {
  const texts = await page.locator('[role="alert"]:not([hidden])').allTextContents();
  assert(
    texts.every((t) => t.trim() === ""),
    `no error on the page (got ${JSON.stringify(texts)})`,
  );
}
