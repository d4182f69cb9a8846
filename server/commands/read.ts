import { integerArg, stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import { type Command, currentUser } from "./command.js";

export const read: Command = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const reader = currentUser(context);
    const withName = stringArg(args, "with");
    const upTo = integerArg(args, "upTo");
    const other = await services.store.findUser(withName);
    if (other === undefined)
      throw new ProtocolError("no_such_user", `there is no user "${withName.slice(0, 32)}"`);
    const notified = await services.store.markRead(reader.id, other.id, upTo, services.now().toISOString());
    services.sessions.wake(notified.userIds);
    return {};
  },
};
