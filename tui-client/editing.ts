// Keys and the line editor's actions, shared by the log-in form and the chat screen.

import type { LineEditor } from "./line-editor.js";

export interface KeyPress {
  /** The key's name with modifiers, blessed style: "a", "enter", "C-n", "S-tab", "M-b". */
  readonly full: string;
  /** The character it types, if any. */
  readonly ch?: string | undefined;
}

/** Whether a key types its character (not a control, not Ctrl- or Alt- something). */
export function isTyped(key: KeyPress): boolean {
  const ch = key.ch;
  if (ch === undefined || ch === "") return false;
  if (key.full.startsWith("C-") || key.full.startsWith("M-")) return false;
  return !/\p{Cc}/u.test(ch);
}

export function edit(editor: LineEditor, action: string): void {
  switch (action) {
    case "cursor_left":
      editor.left();
      break;
    case "cursor_right":
      editor.right();
      break;
    case "word_left":
      editor.wordLeft();
      break;
    case "word_right":
      editor.wordRight();
      break;
    case "line_start":
      editor.home();
      break;
    case "line_end":
      editor.end();
      break;
    case "delete_back":
      editor.backspace();
      break;
    case "delete_forward":
      editor.deleteForward();
      break;
    case "delete_word_back":
      editor.deleteWordBack();
      break;
    case "delete_to_start":
      editor.deleteToStart();
      break;
    case "delete_to_end":
      editor.deleteToEnd();
      break;
  }
}
