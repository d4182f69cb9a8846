import { isValidRoomName } from "../protocol/account-rules.js";
import { stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import { type Command, currentSession, existingUser } from "./command.js";

export const roomCreate: Command<"room_create"> = {
  needsLogin: true,
  growsStore: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const owner = currentSession(context).user;
    const name = stringArg(args, "room");
    const memberNames = args.members ?? [];
    if (!Array.isArray(memberNames) || !memberNames.every((member) => typeof member === "string")) {
      throw new ProtocolError("bad_argument", '"members" must be a list of user names');
    }
    if (!isValidRoomName(name)) {
      throw new ProtocolError(
        "invalid_room",
        "a room name is # and 1 to 32 of the characters A-Z a-z 0-9 _ . -",
      );
    }
    // Checked before the names are looked up, so a huge list costs nothing.
    const distinct = new Set(memberNames.map((member) => member.toLowerCase()));
    distinct.delete(owner.name.toLowerCase());
    if (distinct.size + 1 > services.settings.maxRoomMembers) {
      throw new ProtocolError(
        "too_many_members",
        `a room has at most ${services.settings.maxRoomMembers} members, its owner included`,
      );
    }
    // Looked up together: the store answers the lookups of one turn in one round trip.
    const members = await Promise.all(memberNames.map((member) => existingUser(services, member)));
    const memberIds = members.map((member) => member.id);
    const room = await services.store.createRoom(name, owner.id, memberIds, services.now().toISOString());
    return { room: room.name };
  },
};
