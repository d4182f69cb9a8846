import type { Op } from "../protocol/messages.js";
import { ack } from "./ack.js";
import type { Command } from "./command.js";
import { hello } from "./hello.js";
import { history } from "./history.js";
import { login } from "./login.js";
import { logout } from "./logout.js";
import { ping } from "./ping.js";
import { read } from "./read.js";
import { register } from "./register.js";
import { send } from "./send.js";
import { unregister } from "./unregister.js";
import { users } from "./users.js";

export const COMMANDS: Readonly<Partial<Record<Op, Command>>> = {
  hello,
  register,
  login,
  logout,
  unregister,
  send,
  ack,
  read,
  users,
  history,
  ping,
};
