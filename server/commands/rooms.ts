import type { RoomEntry } from "../protocol/messages.js";
import { type Command, currentSession } from "./command.js";

export const rooms: Command<"rooms"> = {
  needsLogin: true,
  pipelined: false,
  async run(context) {
    const records = await context.services.store.listRooms(currentSession(context).user.id);
    const list: RoomEntry[] = records.map((room) => ({
      room: room.name,
      owner: room.owner,
      members: room.members,
    }));
    return { rooms: list };
  },
};
