import { integerArg, stringArg } from "../protocol/arguments.js";
import { type Command, currentUser, existingUser } from "./command.js";

export const read: Command = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const reader = currentUser(context);
    const withName = stringArg(args, "with");
    const upTo = integerArg(args, "upTo");
    const other = await existingUser(services, withName);
    const notified = await services.store.markRead(reader.id, other.id, upTo, services.now().toISOString());
    services.sessions.wake(notified.userIds);
    return {};
  },
};
