import { stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import { type Command, currentSession, existingRoom, existingUser } from "./command.js";

export const roomRemove: Command<"room_remove"> = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const actor = currentSession(context).user;
    const room = await existingRoom(services, stringArg(args, "room"));
    const user = await existingUser(services, stringArg(args, "user"));
    if (user.id === actor.id) throw new ProtocolError("bad_argument", "to remove yourself, use room_leave");
    await services.store.removeRoomMember(room.id, user.id, actor.id, services.now().toISOString());
    return {};
  },
};
