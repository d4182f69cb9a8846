import { stringArg } from "../protocol/arguments.js";
import { type Command, currentSession, existingRoom, existingUser } from "./command.js";

export const roomAdd: Command<"room_add"> = {
  needsLogin: true,
  growsStore: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const room = await existingRoom(services, stringArg(args, "room"));
    const user = await existingUser(services, stringArg(args, "user"));
    await services.store.addRoomMember(
      room.id,
      user.id,
      currentSession(context).user.id,
      services.now().toISOString(),
      services.settings.maxRoomMembers,
    );
    return {};
  },
};
