import { stringArg } from "../protocol/arguments.js";
import { type Command, currentSession, existingRoom } from "./command.js";

export const roomLeave: Command<"room_leave"> = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const user = currentSession(context).user;
    const room = await existingRoom(services, stringArg(args, "room"));
    await services.store.removeRoomMember(room.id, user.id, user.id, services.now().toISOString());
    return {};
  },
};
