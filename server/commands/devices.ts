import type { DeviceEntry } from "../protocol/messages.js";
import { type Command, currentSession } from "./command.js";

export const devices: Command = {
  needsLogin: true,
  pipelined: false,
  async run(context) {
    const records = await context.services.store.listDevices(currentSession(context).user.id);
    const list: DeviceEntry[] = records.map((record) => ({
      device: record.name,
      online: record.online,
      lastSeen: record.lastSeen,
    }));
    return { devices: list };
  },
};
