import { stringArg } from "../protocol/arguments.js";
import { type Command, currentUser } from "./command.js";
import { authenticate } from "./credentials.js";

export const unregister: Command = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { connection, services } = context;
    const password = stringArg(args, "password");
    const user = currentUser(context);
    await authenticate(context, user.name, password);
    const notified = await services.store.deleteUser(user.id, services.now().toISOString());
    services.sessions.wake(notified.userIds);
    connection.log.info("unregistered", { user: user.name });
    context.closeAfterResponse("unregistered");
    return undefined;
  },
};
