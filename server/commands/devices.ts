import type { DeviceEntry } from "../protocol/messages.js";
import { type Command, currentSession } from "./command.js";

export const devices: Command<"devices"> = {
  needsLogin: true,
  pipelined: false,
  async run(context) {
    const { services } = context;
    const records = await services.store.listDevices(currentSession(context).user.id);
    const list: DeviceEntry[] = records.map((record) => ({
      device: record.name,
      // This node's own sessions from the registry: the store's row may lag a log-out by a write.
      online: services.sessions.isDeviceOnline(record.id) || record.heldElsewhere,
      lastSeen: record.lastSeen,
    }));
    return { devices: list };
  },
};
