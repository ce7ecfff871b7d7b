// The profile's fields (src/app/user_json.cc: names, address, phone numbers), for sign-up and
// for editing. Checks only what the user can fix before sending; the server's 422 names the
// rest.
import type { Profile } from "../api";
import { field, h } from "../dom";

export interface ProfileFields {
  fieldset: HTMLFieldSetElement;
  read(): Profile | string; // the profile, or what is wrong with it
  fill(p: Profile): void;
}

export function profileFields(legend: string): ProfileFields {
  // A required line of text of at most `max` characters.
  const text = (label: string, name: string, max: number, autocomplete: string) =>
    field(label, { name, required: true, maxlength: max, autocomplete });
  const first = text("First name", "firstName", 100, "given-name");
  const last = text("Last name", "lastName", 100, "family-name");
  const street = text("Street address", "streetAddress", 200, "address-line1");
  const city = text("City", "city", 100, "address-level2");
  const state = text("State", "state", 100, "address-level1");
  const postal = field(
    "Postal code",
    {
      name: "postalCode",
      required: true,
      inputmode: "numeric",
      pattern: "[0-9]{1,9}",
      autocomplete: "postal-code",
    },
    "Digits only, up to 9.",
  );
  const phones = field(
    "Phone numbers",
    { name: "phoneNumbers", autocomplete: "tel" },
    "Optional; separate several with commas.",
  );
  const fieldset = h(
    "fieldset",
    {},
    h("legend", {}, legend),
    first.row,
    last.row,
    street.row,
    city.row,
    state.row,
    postal.row,
    phones.row,
  );
  return {
    fieldset,
    read() {
      const code = postal.input.value.trim();
      if (!/^\d{1,9}$/.test(code)) return "Postal code: use digits only (up to 9).";
      return {
        firstName: first.input.value.trim(),
        lastName: last.input.value.trim(),
        address: {
          streetAddress: street.input.value.trim(),
          city: city.input.value.trim(),
          state: state.input.value.trim(),
          postalCode: Number(code),
        },
        phoneNumbers: phones.input.value
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== ""),
      };
    },
    fill(p) {
      first.input.value = p.firstName;
      last.input.value = p.lastName;
      street.input.value = p.address.streetAddress;
      city.input.value = p.address.city;
      state.input.value = p.address.state;
      postal.input.value = String(p.address.postalCode);
      phones.input.value = p.phoneNumbers.join(", ");
    },
  };
}
