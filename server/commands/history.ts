import { optionalIntegerArg, stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import { type Command, conversationWith, currentSession } from "./command.js";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;

export const history: Command<"history"> = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const withName = stringArg(args, "with");
    const before = optionalIntegerArg(args, "before");
    const limit = optionalIntegerArg(args, "limit") ?? DEFAULT_LIMIT;
    if (limit < 1 || limit > MAX_LIMIT)
      throw new ProtocolError("bad_argument", `"limit" must be 1 to ${MAX_LIMIT}`);
    const conversation = await conversationWith(context, withName);
    const messages = await services.store.history(
      currentSession(context).user.id,
      conversation,
      before,
      limit,
    );
    return { messages };
  },
};
