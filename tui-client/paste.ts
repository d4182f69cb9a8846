// Tells pasted text from typed keys in what the terminal sends. Pure: chunks in, parts out.
//
// With bracketed paste on (ESC [?2004h) the terminal wraps a paste in ESC [200~ … ESC [201~,
// which may span reads. Anything else is keys: guessing a paste from several lines in one
// read would also catch fast typing (tmux send-keys, a loaded machine), where Enter must act.

export type InputPart =
  /** Bytes for the key parser. */
  | { readonly kind: "keys"; readonly text: string }
  /** Text to insert as it is, line breaks included (as "\n"). */
  | { readonly kind: "paste"; readonly text: string };

const START = "\x1b[200~";
const END = "\x1b[201~";

/** A pasted text as the input line holds it: line breaks as "\n", no other control character but tab. */
export function cleanPaste(text: string): string {
  return (
    text
      .replace(/\r\n?/gu, "\n")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point.
      .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/gu, "")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point.
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f\u0080-\u009f]/gu, "")
  );
}

export class PasteFilter {
  #pasting = false;
  #paste = "";
  /** The start of an end marker cut by the end of a read. */
  #pending = "";

  feed(chunk: string): InputPart[] {
    const out: InputPart[] = [];
    let rest = this.#pending + chunk;
    this.#pending = "";
    while (rest !== "") {
      if (this.#pasting) {
        const end = rest.indexOf(END);
        if (end === -1) {
          const keep = partialSuffix(rest, END);
          this.#paste += rest.slice(0, rest.length - keep);
          this.#pending = rest.slice(rest.length - keep);
          break;
        }
        this.#paste += rest.slice(0, end);
        out.push({ kind: "paste", text: cleanPaste(this.#paste) });
        this.#paste = "";
        this.#pasting = false;
        rest = rest.slice(end + END.length);
      } else {
        const start = rest.indexOf(START);
        if (start === -1) {
          out.push({ kind: "keys", text: rest });
          break;
        }
        if (start > 0) out.push({ kind: "keys", text: rest.slice(0, start) });
        this.#pasting = true;
        rest = rest.slice(start + START.length);
      }
    }
    return out;
  }
}

/** How many characters at the end of `text` could begin `marker`. */
function partialSuffix(text: string, marker: string): number {
  for (let keep = Math.min(marker.length - 1, text.length); keep > 0; keep--) {
    if (marker.startsWith(text.slice(text.length - keep))) return keep;
  }
  return 0;
}
