import type { Op } from "../protocol/messages.js";
import { ack } from "./ack.js";
import type { Command } from "./command.js";
import { devices } from "./devices.js";
import { forgetDevice } from "./forget-device.js";
import { hello } from "./hello.js";
import { history } from "./history.js";
import { login } from "./login.js";
import { logout } from "./logout.js";
import { ping } from "./ping.js";
import { read } from "./read.js";
import { register } from "./register.js";
import { roomAdd } from "./room-add.js";
import { roomCreate } from "./room-create.js";
import { roomLeave } from "./room-leave.js";
import { roomMembers } from "./room-members.js";
import { roomRemove } from "./room-remove.js";
import { rooms } from "./rooms.js";
import { send } from "./send.js";
import { unregister } from "./unregister.js";
import { users } from "./users.js";

export const COMMANDS: { readonly [O in Op]: Command<O> } = {
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
  devices,
  forget_device: forgetDevice,
  room_create: roomCreate,
  room_add: roomAdd,
  room_remove: roomRemove,
  room_leave: roomLeave,
  rooms,
  room_members: roomMembers,
};
