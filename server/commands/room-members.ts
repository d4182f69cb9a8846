import { stringArg } from "../protocol/arguments.js";
import type { RoomMemberEntry } from "../protocol/messages.js";
import { type Command, memberRoom } from "./command.js";

export const roomMembers: Command<"room_members"> = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const room = await memberRoom(context, stringArg(args, "room"));
    const members: RoomMemberEntry[] = (await services.store.roomMembers(room.id)).map((member) => ({
      user: member.user,
      online: services.sessions.isOnline(member.userId),
      readUpTo: member.readUpTo,
    }));
    return { members };
  },
};
