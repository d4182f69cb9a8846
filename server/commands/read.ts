import { integerArg, stringArg } from "../protocol/arguments.js";
import { type Command, conversationWith, currentSession } from "./command.js";

export const read: Command<"read"> = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const session = currentSession(context);
    const conversation = await conversationWith(context, stringArg(args, "with"));
    const upTo = integerArg(args, "upTo");
    await services.store.markRead(
      session.user.id,
      session.device.id,
      conversation,
      upTo,
      services.now().toISOString(),
    );
    return {};
  },
};
