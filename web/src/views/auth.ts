// Sign up (POST /accounts) and log in (POST /sessions). Both answers set the session cookie.
import type { Ctx } from "../app";
import { append, field, h, liveRegion } from "../dom";
import { asyncForm } from "./form";
import { profileFields } from "./profile_form";

function credentials(newPassword: boolean) {
  const email = field("Email", {
    name: "email",
    type: "email",
    required: true,
    autocomplete: "email",
  });
  const password = field(
    "Password",
    {
      name: "password",
      type: "password",
      required: true,
      autocomplete: newPassword ? "new-password" : "current-password",
      minlength: newPassword ? 8 : undefined,
    },
    newPassword ? "At least 8 characters; not one of the most common passwords." : undefined,
  );
  return { email, password };
}

// The heading (labelling the form), the form, and a link to the other of the two screens.
function screen(
  ctx: Ctx,
  id: string,
  title: string,
  form: HTMLFormElement,
  ask: string,
  href: string,
  other: string,
): void {
  append(
    ctx.main,
    h("h1", { id, tabindex: -1 }, title),
    form,
    h("p", {}, ask, h("a", { href }, other)),
  );
}

export function logInView(ctx: Ctx): void {
  const { email, password } = credentials(false);
  const error = liveRegion("error");
  const button = h("button", { type: "submit" }, "Log in");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "login-h" },
    email.row,
    password.row,
    error,
    button,
  );
  asyncForm(form, button, error, async () => {
    await ctx.api.logIn(email.input.value, password.input.value);
    ctx.setMe(await ctx.api.me());
    ctx.status(`Logged in as ${ctx.me?.firstName ?? ""} ${ctx.me?.lastName ?? ""}.`);
    ctx.go("#/photos");
  });
  screen(ctx, "login-h", "Log in", form, "No account yet? ", "#/signup", "Sign up");
}

export function signUpView(ctx: Ctx): void {
  const { email, password } = credentials(true);
  const profile = profileFields("Your profile");
  const error = liveRegion("error");
  const button = h("button", { type: "submit" }, "Sign up");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "signup-h" },
    h("fieldset", {}, h("legend", {}, "Account"), email.row, password.row),
    profile.fieldset,
    error,
    button,
  );
  asyncForm(form, button, error, async () => {
    const p = profile.read();
    if (typeof p === "string") throw new Error(p);
    const user = await ctx.api.signUp(email.input.value, password.input.value, p);
    ctx.setMe(user);
    ctx.status(`Welcome, ${user.firstName}! Your account is ready and you are logged in.`);
    ctx.go("#/photos");
  });
  screen(ctx, "signup-h", "Sign up", form, "Have an account? ", "#/login", "Log in");
}
