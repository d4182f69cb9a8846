import type { UserEntry } from "../protocol/messages.js";
import type { Command } from "./command.js";

export const users: Command<"users"> = {
  needsLogin: true,
  pipelined: false,
  async run({ services }) {
    const records = await services.store.listUsers();
    const list: UserEntry[] = records.map((record) => ({
      user: record.user,
      name: record.name,
      online: services.sessions.isOnline(record.id),
      lastSeen: record.lastSeen,
    }));
    return { users: list };
  },
};
