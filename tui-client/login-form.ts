// The log-in screen's form, pure: which mode (log in or register), which field has the
// focus, what is typed, what the server or the checks said. Keys in, intents out.

import { edit, isTyped, type KeyPress } from "./editing.js";
import { LOGIN_KEYS, lookup } from "./keymap.js";
import { LineEditor } from "./line-editor.js";

export type LoginField = "user" | "password" | "confirm";
export type LoginErrors = Partial<Record<LoginField | "form", string>>;

export type LoginIntent =
  | { kind: "login"; user: string; password: string }
  | { kind: "register"; user: string; password: string }
  | { kind: "redraw" }
  | { kind: "quit" };

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/u;

export class LoginForm {
  #mode: "login" | "register" = "login";
  #field: LoginField = "user";
  readonly #editors: Record<LoginField, LineEditor> = {
    user: new LineEditor({ maxHistory: 0 }),
    password: new LineEditor({ maxHistory: 0 }),
    confirm: new LineEditor({ maxHistory: 0 }),
  };
  #errors: LoginErrors = {};
  #busy = false;

  /** With a user name (from --user), the form opens on the password. */
  constructor(user: string | undefined) {
    if (user !== undefined && user !== "") {
      this.#editors.user.set(user);
      this.#field = "password";
    }
  }

  get mode(): "login" | "register" {
    return this.#mode;
  }

  get field(): LoginField {
    return this.#field;
  }

  get editors(): Readonly<Record<LoginField, LineEditor>> {
    return this.#editors;
  }

  get errors(): Readonly<LoginErrors> {
    return this.#errors;
  }

  get busy(): boolean {
    return this.#busy;
  }

  /** A paste goes into the focused field, on one line. */
  paste(text: string): void {
    this.#editors[this.#field].insert(text.replace(/\n+/gu, ""));
    delete this.#errors[this.#field];
  }

  /** The connection dropped while a log-in was on its way. */
  connectionLost(): void {
    if (!this.#busy) return;
    this.#busy = false;
    this.#errors = { form: "the connection was lost; try again" };
  }

  /** Logged in: the passwords are forgotten. */
  loggedIn(): void {
    this.#busy = false;
    this.#errors = {};
    this.#editors.password.clear();
    this.#editors.confirm.clear();
  }

  /** Back to the form after a log-out: in log-in mode, whatever this session did before. */
  reset(errors: LoginErrors = {}): void {
    this.#busy = false;
    this.#errors = errors;
    this.#editors.password.clear();
    this.#editors.confirm.clear();
    this.#mode = "login";
    this.#field = this.#editors.user.isEmpty ? "user" : "password";
  }

  /** The server refused a log-in or a registration this form sent. */
  failed(stage: "register" | "login", error: { code: string; message: string }): void {
    this.#busy = false;
    const text = loginErrorText(error);
    switch (error.code) {
      case "user_exists":
      case "invalid_username":
        this.#errors = { user: text };
        this.#field = "user";
        break;
      case "bad_credentials":
      case "weak_password":
      case "rate_limited":
        this.#errors = { password: text };
        this.#field = "password";
        break;
      default:
        this.#errors = {
          form: `${stage === "register" ? "registering" : "logging in"} failed: ${text}`,
        };
    }
  }

  key(key: KeyPress): LoginIntent[] {
    const action = lookup(LOGIN_KEYS, key.full);
    const fields = this.fields();
    const editor = this.#editors[this.#field];
    switch (action) {
      case "quit":
        return [{ kind: "quit" }];
      case "redraw":
        return [{ kind: "redraw" }];
      case "toggle_mode":
        this.#mode = this.#mode === "login" ? "register" : "login";
        this.#errors = {};
        if (this.#field === "confirm" && this.#mode === "login") this.#field = "password";
        return [];
      case "next_field":
        this.#field = fields[(fields.indexOf(this.#field) + 1) % fields.length]!;
        return [];
      case "previous_field":
        this.#field = fields[(fields.indexOf(this.#field) - 1 + fields.length) % fields.length]!;
        return [];
      case "submit_field": {
        const index = fields.indexOf(this.#field);
        if (index < fields.length - 1 && this.#editors[this.#field].value !== "" && !this.#formComplete()) {
          this.#field = fields[index + 1]!;
          return [];
        }
        return this.#submit();
      }
      case undefined:
        if (isTyped(key)) {
          editor.insert(key.ch!);
          delete this.#errors[this.#field];
        }
        return [];
      default:
        edit(editor, action);
        return [];
    }
  }

  fields(): LoginField[] {
    return this.#mode === "register" ? ["user", "password", "confirm"] : ["user", "password"];
  }

  #formComplete(): boolean {
    return this.fields().every((field) => this.#editors[field].value !== "");
  }

  #submit(): LoginIntent[] {
    if (this.#busy) return [];
    const user = this.#editors.user.value.trim();
    const password = this.#editors.password.value;
    const errors: Partial<Record<LoginField | "form", string>> = {};
    if (user === "") errors.user = "type a user name";
    else if (!USER_NAME.test(user)) errors.user = loginErrorText({ code: "invalid_username", message: "" });
    if (password === "") errors.password = "type a password";
    if (this.#mode === "register") {
      if (password !== "" && [...password].length < 8) {
        errors.password = loginErrorText({ code: "weak_password", message: "" });
      } else if (this.#editors.confirm.value !== password) {
        errors.confirm = "the two passwords differ";
      }
    }
    this.#errors = errors;
    const first = this.fields().find((field) => errors[field] !== undefined);
    if (first !== undefined) {
      this.#field = first;
      return [];
    }
    this.#busy = true;
    return [{ kind: this.#mode, user, password }];
  }
}

/** The server's log-in and registration errors in plain words, short enough to sit beside a field. */
export function loginErrorText(error: { code: string; message: string }): string {
  switch (error.code) {
    case "bad_credentials":
      return "wrong user name or password";
    case "user_exists":
      return "that name is taken; pick another";
    case "weak_password":
      return "too weak: use 8 characters or more";
    case "invalid_username":
      return "use 1-32 of A-Z a-z 0-9 _ . -";
    case "rate_limited":
      return "too many tries; wait a minute";
    case "unavailable":
      return "the server cannot store data now";
    default:
      return error.message !== "" ? error.message : error.code;
  }
}
