import { stringArg } from "../protocol/arguments.js";
import { type Command, currentSession } from "./command.js";
import { authenticate } from "./credentials.js";

export const unregister: Command<"unregister"> = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { connection, services } = context;
    const password = stringArg(args, "password");
    const { user } = currentSession(context);
    await authenticate(context, user.name, password);
    await services.store.deleteUser(user.id, services.now().toISOString());
    // The account's other devices lose their sessions with it.
    for (const other of services.sessions.sessionsOf(user.id)) {
      if (other.connection !== connection)
        other.connection.close("account deleted", { ev: "session_replaced" });
    }
    connection.log.info("unregistered", { user: user.name });
    context.closeAfterResponse("unregistered");
    return undefined;
  },
};
