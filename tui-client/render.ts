// Turns the view model's state into a frame: rows of styled text, exactly the terminal's size.
// Pure; the screen paints whatever this returns.

import type { LayoutLine, Viewport } from "./conversation-view.js";
import type { LineEditor } from "./line-editor.js";
import { type Frame, fitRow, type Row, type Segment, seg } from "./styled-text.js";
import { padEndToWidth, stringWidth, truncateToWidth, wrapText } from "./text-width.js";

export interface StatusView {
  readonly text: string;
  readonly good: boolean;
}

export interface NoticeView {
  readonly text: string;
  readonly level: "info" | "error";
}

/** What a room's header shows: how many are in it and who of them is online. */
export interface RoomHeader {
  readonly joined: boolean;
  readonly memberCount: number | undefined;
  /** Online members' names; undefined until the member list has come. */
  readonly online: readonly string[] | undefined;
}

export interface ActivityView {
  readonly name: string;
  readonly unread: number;
  readonly highlight: boolean;
}

export interface ChatView {
  readonly cols: number;
  readonly rows: number;
  /** From chatGeometry, like the rest of the layout. */
  readonly contactsWidth: number;
  readonly contacts: readonly {
    key: string;
    user: string;
    online: boolean;
    unread: number;
    self: boolean;
    room: boolean;
  }[];
  readonly contactsTop: number;
  readonly activeKey: string | undefined;
  readonly header:
    | {
        peer: string;
        online: boolean;
        lastSeen: string | undefined;
        exists: boolean;
        /** Set for a room: the header shows its members instead of a presence. */
        room: RoomHeader | undefined;
      }
    | undefined;
  readonly lines: readonly LayoutLine[];
  readonly viewport: Viewport | undefined;
  readonly status: StatusView;
  /** "user@host:port" for the status bar. */
  readonly identity: string;
  readonly notice: NoticeView | undefined;
  /** Conversations with unread messages, for the status bar. */
  readonly activity: readonly ActivityView[];
  readonly prompt: string;
  readonly editor: LineEditor;
  readonly masked: boolean;
  readonly overlay: { title: string; lines: readonly string[]; top: number } | undefined;
}

export interface LoginView {
  readonly cols: number;
  readonly rows: number;
  readonly mode: "login" | "register";
  readonly fields: readonly ("user" | "password" | "confirm")[];
  readonly focused: "user" | "password" | "confirm";
  readonly editors: Readonly<Record<"user" | "password" | "confirm", LineEditor>>;
  readonly errors: Readonly<Partial<Record<"user" | "password" | "confirm" | "form", string>>>;
  readonly busy: boolean;
  readonly server: string;
  readonly status: StatusView;
  readonly notice: NoticeView | undefined;
}

const MIN_COLS = 30;
const MIN_ROWS = 8;
const MASK = "•";

/** The contacts pane's width follows the terminal within these bounds. */
const CONTACTS_MIN = 14;
const CONTACTS_MAX = 24;

export interface ChatGeometry {
  readonly contactsWidth: number;
  /** Rows between the title-less top and the status bar: the contacts and the conversation. */
  readonly bodyHeight: number;
  readonly conversationWidth: number;
  /** The conversation's own lines: the body less its header row. */
  readonly conversationHeight: number;
}

/**
 * The one source of the chat screen's geometry: the view model scrolls, pages and maps
 * clicks with it, and renderChat paints with it.
 */
export function chatGeometry(cols: number, rows: number, noticeLines: number): ChatGeometry {
  const contactsWidth = Math.max(CONTACTS_MIN, Math.min(CONTACTS_MAX, Math.floor(cols * 0.22)));
  const bodyHeight = Math.max(1, rows - 2 - noticeLines);
  return {
    contactsWidth,
    bodyHeight,
    conversationWidth: Math.max(1, cols - contactsWidth - 1),
    conversationHeight: Math.max(1, bodyHeight - 1),
  };
}

export function renderChat(view: ChatView): Frame {
  const { cols, rows } = view;
  if (cols < MIN_COLS || rows < MIN_ROWS) return tooSmall(cols, rows);
  const noticeLines = noticeRows(view.status, view.identity, view.notice, cols, view.activity);
  const { bodyHeight, conversationWidth } = chatGeometry(cols, rows, noticeLines.length);
  const contactRows = renderContacts(view, bodyHeight);
  const conversationRows = renderConversation(view, conversationWidth, bodyHeight);
  let out: Row[] = [];
  for (let y = 0; y < bodyHeight; y++) {
    out.push([...contactRows[y]!, seg("│", "dim"), ...conversationRows[y]!]);
  }
  if (view.overlay !== undefined) out = drawOverlay(view.overlay, cols, bodyHeight);
  for (const line of noticeLines) {
    out.push(fitRow([seg(` ${line}`, view.notice!.level === "error" ? "error" : "bold")], cols));
  }
  out.push(
    renderStatusBar(
      view.status,
      noticeLines.length > 0 ? undefined : view.notice,
      view.identity,
      cols,
      view.activity,
    ),
  );
  const input = renderInput(view.prompt, view.editor, view.masked, cols);
  out.push(input.row);
  return {
    width: cols,
    height: rows,
    rows: out,
    cursor: view.overlay === undefined ? { x: input.cursor, y: rows - 1 } : undefined,
  };
}

function renderContacts(view: ChatView, height: number): Segment[][] {
  const width = view.contactsWidth;
  const rows: Segment[][] = [fitRow([seg(" Contacts", "title")], width, "title")];
  const visible = view.contacts.slice(view.contactsTop, view.contactsTop + height - 1);
  for (const contact of visible) {
    const selected = contact.key === view.activeKey;
    const unread = contact.unread > 0 ? ` ${contact.unread > 999 ? "999+" : contact.unread}` : "";
    // A room has no presence of its own: its `#` stands where a user's mark is.
    const mark = contact.room ? " " : contact.online ? "●" : "○";
    const nameRoom = width - 3 - stringWidth(unread) - 1;
    const name = padEndToWidth(
      truncateToWidth(contact.user + (contact.self ? " (you)" : ""), nameRoom),
      nameRoom,
    );
    const row: Segment[] = selected
      ? [seg(`▸${mark} ${name}${unread} `, "selected")]
      : [
          seg(" "),
          seg(mark, contact.online ? "online" : "offline"),
          seg(" "),
          seg(name, contact.unread > 0 ? "bold" : "normal"),
          seg(unread, "unread"),
          seg(" "),
        ];
    rows.push(fitRow(row, width, selected ? "selected" : "normal"));
  }
  if (view.contacts.length === 0) rows.push(fitRow([seg(" (no users yet)", "dim")], width));
  while (rows.length < height) rows.push(fitRow([], width));
  return rows;
}

function renderConversation(view: ChatView, width: number, height: number): Segment[][] {
  const rows: Segment[][] = [];
  const header = view.header;
  if (header === undefined) {
    rows.push(fitRow([seg(" Parley", "title")], width, "title"));
    const welcome = [
      "",
      " Pick a conversation: Tab / Shift-Tab, or click a contact.",
      " Type a message and press Enter to send it.",
      " /msg USER TEXT writes to anyone; /help lists commands and keys.",
      " /create #ROOM USER… starts a room with others.",
      "",
      " Marks on your messages: … waiting  ✓ sent  ✓✓ delivered  ✔✔ read",
    ];
    for (const line of welcome)
      for (const part of wrapText(line, width)) rows.push(fitRow([seg(part, "dim")], width));
  } else {
    const presence =
      header.room !== undefined
        ? seg(roomHeaderText(header.room), "dim")
        : header.online
          ? seg("● online", "online")
          : seg(
              header.exists
                ? `○ offline${header.lastSeen === undefined ? "" : `, last seen ${header.lastSeen}`}`
                : "○ unknown user",
              "offline",
            );
    rows.push(fitRow([seg(` ${header.peer}  `, "title"), { ...presence, style: "title" }], width, "title"));
    const { lines, viewport } = view;
    if (viewport !== undefined) {
      for (let i = viewport.top; i < viewport.end; i++) rows.push(fitRow(lines[i]!.row, width));
      if (!viewport.atBottom && rows.length >= 2) {
        // Say so when newer messages are below, or people think the conversation went quiet.
        rows[rows.length - 1] = fitRow([seg("  ↓ more below: PgDn", "status_bad")], width);
      }
    }
  }
  while (rows.length < height) rows.push(fitRow([], width));
  rows.length = height;
  return rows;
}

/** "3 members, online: alice, bob" — cut to the width by the caller. */
function roomHeaderText(room: RoomHeader): string {
  if (!room.joined) return "you are not a member";
  if (room.memberCount === undefined) return "loading members…";
  const members = `${room.memberCount} member${room.memberCount === 1 ? "" : "s"}`;
  if (room.online === undefined) return members;
  return `${members}, ${room.online.length === 0 ? "nobody online" : `online: ${room.online.join(", ")}`}`;
}

/** A box over the whole body: help, the user list. */
function drawOverlay(
  overlay: { title: string; lines: readonly string[]; top: number },
  width: number,
  height: number,
): Row[] {
  const inner = Math.max(1, width - 2);
  const room = Math.max(1, height - 2);
  const body = overlay.lines.flatMap((line) => wrapHanging(line, inner - 1));
  const shown = body.slice(overlay.top, overlay.top + room);
  const more = overlay.top + room < body.length;
  const rows: Row[] = [];
  rows.push([
    ...fitRow([seg(`┌ ${overlay.title} `, "title"), seg("─".repeat(width), "title")], width - 1),
    seg("┐", "title"),
  ]);
  for (let y = 1; y < height - 1; y++) {
    rows.push([seg("│", "dim"), ...fitRow([seg(` ${shown[y - 1] ?? ""}`)], inner), seg("│", "dim")]);
  }
  const footer = more ? " PgDn for more · any other key closes " : " any key closes ";
  rows.push([
    ...fitRow([seg("└─", "dim"), seg(footer, "dim"), seg("─".repeat(width), "dim")], width - 1),
    seg("┘", "dim"),
  ]);
  return rows.slice(0, height);
}

/**
 * Wraps a two-column line ("  /msg USER TEXT  send TEXT to USER") so that continuation lines
 * start under the second column, as man pages do.
 */
function wrapHanging(line: string, width: number): string[] {
  const match = /^(\s*\S.*?\s{2,})(\S.*)$/u.exec(line);
  const prefix = match?.[1];
  if (match === null || prefix === undefined || stringWidth(prefix) > width / 2) return wrapText(line, width);
  const indent = " ".repeat(stringWidth(prefix));
  return wrapText(match[2]!, width - indent.length).map((part, i) => (i === 0 ? prefix : indent) + part);
}

const HELP_HINT = " /help ";

function statusLeft(status: StatusView, where: string, activity: readonly ActivityView[]): Segment[] {
  const out = [
    seg(" "),
    seg(status.good ? "● " : "○ ", status.good ? "status_good" : "status_bad"),
    seg(status.text, status.good ? "status_good" : "status_bad"),
    seg(` │ ${where} │ `, "status"),
  ];
  // The activity list (weechat's hotlist): where unread messages are; "*" when one is for you.
  if (activity.length > 0) {
    out.push(seg("Act: ", "status"));
    for (const entry of activity) {
      out.push(
        seg(
          `${entry.name}(${entry.unread})${entry.highlight ? "*" : ""}`,
          entry.highlight ? "status_bad" : "status_good",
        ),
      );
      out.push(seg(" ", "status"));
    }
    out.push(seg("│ ", "status"));
  }
  return out;
}

/**
 * The lines a notice too long for the status bar takes above it (at most two), so that nothing
 * important is cut off; none when it fits in the status bar.
 */
export function noticeRows(
  status: StatusView,
  where: string,
  notice: NoticeView | undefined,
  cols: number,
  activity: readonly ActivityView[] = [],
): string[] {
  if (notice === undefined || statusBarFits(status, where, notice, cols, activity)) return [];
  const lines = wrapText(notice.text, Math.max(1, cols - 2));
  if (lines.length > 2) lines[1] = truncateToWidth(`${lines[1]} ${lines.slice(2).join(" ")}`, cols - 2);
  return lines.slice(0, 2);
}

/** Whether the notice fits in the status bar. */
export function statusBarFits(
  status: StatusView,
  where: string,
  notice: NoticeView | undefined,
  cols: number,
  activity: readonly ActivityView[] = [],
): boolean {
  if (notice === undefined) return true;
  const used = statusLeft(status, where, activity).reduce(
    (sum, segment) => sum + stringWidth(segment.text),
    0,
  );
  return used + stringWidth(notice.text) <= cols - HELP_HINT.length;
}

function renderStatusBar(
  status: StatusView,
  notice: NoticeView | undefined,
  where: string,
  cols: number,
  activity: readonly ActivityView[],
): Row {
  const left = statusLeft(status, where, activity);
  if (notice !== undefined) left.push(seg(notice.text, notice.level === "error" ? "status_bad" : "status"));
  const leftRow = fitRow(left, Math.max(0, cols - HELP_HINT.length), "status");
  return [...leftRow, seg(HELP_HINT, "status")];
}

function renderInput(
  prompt: string,
  editor: LineEditor,
  masked: boolean,
  cols: number,
): { row: Segment[]; cursor: number } {
  const shownPrompt = truncateToWidth(prompt, Math.floor(cols / 3));
  const promptWidth = stringWidth(shownPrompt);
  const room = Math.max(1, cols - promptWidth);
  const view = editor.view(room, masked ? MASK : undefined);
  return {
    row: fitRow([seg(shownPrompt, "bold"), seg(view.text)], cols),
    cursor: Math.min(cols - 1, promptWidth + view.cursor),
  };
}

export function renderLogin(view: LoginView): Frame {
  const { cols, rows } = view;
  if (cols < MIN_COLS || rows < MIN_ROWS) return tooSmall(cols, rows);
  const out: Row[] = [];
  const blank = (): void => {
    out.push(fitRow([], cols));
  };
  const labelWidth = 10;
  const fieldWidth = Math.max(8, Math.min(28, cols - labelWidth - 6));
  const left = Math.max(1, Math.min(Math.floor((cols - labelWidth - fieldWidth - 36) / 2), 12));
  const margin = " ".repeat(left);
  let cursor: { x: number; y: number } | undefined;

  blank();
  out.push(fitRow([seg(margin), seg("Parley", "title"), seg(`  ${view.server}`, "dim")], cols));
  blank();
  const tab = (label: string, on: boolean): Segment => seg(` ${label} `, on ? "selected" : "dim");
  out.push(
    fitRow(
      [
        seg(margin),
        tab("Log in", view.mode === "login"),
        seg(" "),
        tab("Register", view.mode === "register"),
        seg("   Ctrl-R switches", "dim"),
      ],
      cols,
    ),
  );
  blank();
  const labels = { user: "User", password: "Password", confirm: "Again" } as const;
  for (const field of view.fields) {
    const focused = field === view.focused;
    const editorView = view.editors[field].view(fieldWidth, field === "user" ? undefined : MASK);
    const error = view.errors[field];
    const errorRoom = Math.max(0, cols - left - labelWidth - fieldWidth - 4);
    const row = fitRow(
      [
        seg(margin),
        seg(padEndToWidth(labels[field], labelWidth), focused ? "bold" : "normal"),
        seg("[", "dim"),
        seg(padEndToWidth(editorView.text, fieldWidth), focused ? "field_focused" : "field"),
        seg("]", "dim"),
        seg(error === undefined ? "" : ` ${truncateToWidth(error, errorRoom)}`, "error"),
      ],
      cols,
    );
    if (focused) cursor = { x: left + labelWidth + 1 + editorView.cursor, y: out.length };
    out.push(row);
    blank();
  }
  const formLine = view.busy
    ? seg(view.mode === "register" ? "registering…" : "logging in…", "dim")
    : view.errors.form !== undefined
      ? seg(view.errors.form, "error")
      : seg("");
  out.push(fitRow([seg(margin), formLine], cols));
  const noticeFits = statusBarFits(view.status, view.server, view.notice, cols);
  if (!noticeFits) {
    const style = view.notice!.level === "error" ? "error" : "bold";
    for (const line of wrapText(view.notice!.text, cols - left - 1))
      out.push(fitRow([seg(margin), seg(line, style)], cols));
  }
  blank();
  const hints = [
    "Enter: next field, then submit",
    "Tab / Shift-Tab: move between fields",
    `Ctrl-R: ${view.mode === "login" ? "create an account instead" : "log in instead"}`,
    "Ctrl-C: quit",
  ];
  for (const hint of hints) out.push(fitRow([seg(margin), seg(hint, "dim")], cols));

  const body = out.slice(0, rows - 1);
  while (body.length < rows - 1) body.push(fitRow([], cols));
  body.push(renderStatusBar(view.status, noticeFits ? view.notice : undefined, view.server, cols, []));
  return {
    width: cols,
    height: rows,
    rows: body,
    cursor: cursor !== undefined && cursor.y < rows - 1 ? cursor : undefined,
  };
}

function tooSmall(cols: number, rows: number): Frame {
  const out: Row[] = [];
  for (let y = 0; y < rows; y++)
    out.push(fitRow(y === 0 ? [seg("Parley: make the terminal larger")] : [], cols));
  return { width: cols, height: rows, rows: out, cursor: undefined };
}
