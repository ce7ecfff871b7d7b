import { describe } from "../api";
import { say } from "../dom";

// Runs `submit` on the form's submit, once at a time (the button is disabled meanwhile), and
// announces its failure in `error` in words.
export function asyncForm(
  form: HTMLFormElement,
  button: HTMLButtonElement,
  error: HTMLElement,
  submit: () => Promise<void>,
): void {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    say(error, "");
    submit()
      .catch((err: unknown) => say(error, describe(err)))
      .finally(() => (button.disabled = false));
  });
}
