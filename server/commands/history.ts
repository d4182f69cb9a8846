import { optionalIntegerArg, stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import { type Command, currentUser, existingUser } from "./command.js";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;

export const history: Command = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { services } = context;
    const user = currentUser(context);
    const withName = stringArg(args, "with");
    const before = optionalIntegerArg(args, "before");
    const limit = optionalIntegerArg(args, "limit") ?? DEFAULT_LIMIT;
    if (limit < 1 || limit > MAX_LIMIT)
      throw new ProtocolError("bad_argument", `"limit" must be 1 to ${MAX_LIMIT}`);
    const other = await existingUser(services, withName);
    const messages = await services.store.history(user.id, other.id, before, limit);
    return { messages };
  },
};
