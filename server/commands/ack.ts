import { integerArg } from "../protocol/arguments.js";
import { type Command, currentUser } from "./command.js";

export const ack: Command = {
  needsLogin: true,
  pipelined: true,
  async run(context, args) {
    const { services } = context;
    const user = currentUser(context);
    const upTo = integerArg(args, "upTo");
    const session = services.sessions.get(user.id);
    if (session === undefined) return undefined;
    const effective = session.pusher.acknowledged(upTo);
    if (effective > 0) await session.acks.record(effective);
    return undefined;
  },
};
