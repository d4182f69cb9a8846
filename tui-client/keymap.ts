// Key bindings as data: the view model dispatches through these tables and /help prints them,
// so what the help says is what the keys do.

export type ChatAction =
  | "next_conversation"
  | "previous_conversation"
  | "submit"
  | "page_up"
  | "page_down"
  | "history_previous"
  | "history_next"
  | "cursor_left"
  | "cursor_right"
  | "word_left"
  | "word_right"
  | "line_start"
  | "line_end"
  | "delete_back"
  | "delete_forward"
  | "delete_word_back"
  | "delete_to_start"
  | "delete_to_end"
  | "cancel"
  | "redraw"
  | "quit";

export type LoginAction =
  | "next_field"
  | "previous_field"
  | "submit_field"
  | "toggle_mode"
  | "cursor_left"
  | "cursor_right"
  | "line_start"
  | "line_end"
  | "delete_back"
  | "delete_forward"
  | "delete_to_start"
  | "delete_to_end"
  | "redraw"
  | "quit";

export interface KeyBinding<A extends string> {
  /** Key names as the screen reports them: "tab", "S-tab", "C-n", "pageup", "M-b". */
  readonly keys: readonly string[];
  /** How /help and the README write the keys. */
  readonly label: string;
  readonly action: A;
  readonly help: string;
}

const EDITING_HELP = "edit the line";

export const CHAT_KEYS: readonly KeyBinding<ChatAction>[] = [
  { keys: ["tab", "C-n"], label: "Tab, Ctrl-N", action: "next_conversation", help: "next conversation" },
  {
    keys: ["S-tab", "C-p"],
    label: "Shift-Tab, Ctrl-P",
    action: "previous_conversation",
    help: "previous conversation",
  },
  { keys: ["enter", "linefeed"], label: "Enter", action: "submit", help: "send the line, or run a /command" },
  {
    keys: ["pageup"],
    label: "PgUp",
    action: "page_up",
    help: "scroll up; at the top, load older messages",
  },
  { keys: ["pagedown"], label: "PgDn", action: "page_down", help: "scroll down" },
  { keys: ["up"], label: "Up", action: "history_previous", help: "previous line you sent" },
  { keys: ["down"], label: "Down", action: "history_next", help: "next line you sent" },
  { keys: ["left", "C-b"], label: "Left, Ctrl-B", action: "cursor_left", help: "cursor left" },
  { keys: ["right", "C-f"], label: "Right, Ctrl-F", action: "cursor_right", help: "cursor right" },
  { keys: ["C-left", "M-b"], label: "Ctrl-Left, Alt-B", action: "word_left", help: "previous word" },
  { keys: ["C-right", "M-f"], label: "Ctrl-Right, Alt-F", action: "word_right", help: "next word" },
  { keys: ["home", "C-a"], label: "Home, Ctrl-A", action: "line_start", help: "start of the line" },
  { keys: ["end", "C-e"], label: "End, Ctrl-E", action: "line_end", help: "end of the line" },
  { keys: ["backspace", "C-h"], label: "Backspace", action: "delete_back", help: "delete before the cursor" },
  {
    keys: ["delete", "C-d"],
    label: "Delete, Ctrl-D",
    action: "delete_forward",
    help: "delete at the cursor",
  },
  {
    keys: ["C-w", "M-backspace"],
    label: "Ctrl-W",
    action: "delete_word_back",
    help: "delete the word before",
  },
  { keys: ["C-u"], label: "Ctrl-U", action: "delete_to_start", help: "delete to the start of the line" },
  { keys: ["C-k"], label: "Ctrl-K", action: "delete_to_end", help: "delete to the end of the line" },
  { keys: ["escape"], label: "Esc", action: "cancel", help: "cancel the password prompt of /unregister" },
  { keys: ["C-l"], label: "Ctrl-L", action: "redraw", help: "redraw the screen" },
  { keys: ["C-c"], label: "Ctrl-C", action: "quit", help: "quit" },
];

export const LOGIN_KEYS: readonly KeyBinding<LoginAction>[] = [
  { keys: ["tab", "down"], label: "Tab, Down", action: "next_field", help: "next field" },
  { keys: ["S-tab", "up"], label: "Shift-Tab, Up", action: "previous_field", help: "previous field" },
  { keys: ["enter", "linefeed"], label: "Enter", action: "submit_field", help: "next field, then submit" },
  { keys: ["C-r"], label: "Ctrl-R", action: "toggle_mode", help: "switch between log in and register" },
  { keys: ["left", "C-b"], label: "Left", action: "cursor_left", help: EDITING_HELP },
  { keys: ["right", "C-f"], label: "Right", action: "cursor_right", help: EDITING_HELP },
  { keys: ["home", "C-a"], label: "Home", action: "line_start", help: EDITING_HELP },
  { keys: ["end", "C-e"], label: "End", action: "line_end", help: EDITING_HELP },
  { keys: ["backspace", "C-h"], label: "Backspace", action: "delete_back", help: EDITING_HELP },
  { keys: ["delete", "C-d"], label: "Delete", action: "delete_forward", help: EDITING_HELP },
  { keys: ["C-u"], label: "Ctrl-U", action: "delete_to_start", help: EDITING_HELP },
  { keys: ["C-k"], label: "Ctrl-K", action: "delete_to_end", help: EDITING_HELP },
  { keys: ["C-l"], label: "Ctrl-L", action: "redraw", help: "redraw the screen" },
  { keys: ["C-c"], label: "Ctrl-C", action: "quit", help: "quit" },
];

export function lookup<A extends string>(table: readonly KeyBinding<A>[], key: string): A | undefined {
  for (const binding of table) if (binding.keys.includes(key)) return binding.action;
  return undefined;
}
