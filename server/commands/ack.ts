import { integerArg } from "../protocol/arguments.js";
import { type Command, currentSession } from "./command.js";

export const ack: Command<"ack"> = {
  needsLogin: true,
  pipelined: true,
  async run(context, args) {
    context.services.metrics.ackReceived();
    await currentSession(context).acknowledge(integerArg(args, "upTo"));
    return undefined;
  },
};
