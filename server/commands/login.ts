import { stringArg } from "../protocol/arguments.js";
import type { Command } from "./command.js";
import { authenticate } from "./credentials.js";

export const login: Command = {
  needsLogin: false,
  pipelined: false,
  async run(context, args) {
    const { connection, services } = context;
    const record = await authenticate(context, stringArg(args, "user"), stringArg(args, "password"));

    const previous = connection.user;
    if (previous !== undefined) await services.sessions.detach(previous, connection);
    const user = { id: record.id, name: record.user };
    connection.user = user;
    const session = await services.sessions.attach(user, connection);
    if (connection.state !== "open") {
      // It closed while we checked the password; its close found no session to end.
      await services.sessions.detach(user, connection);
      return undefined;
    }
    const pending = await services.store.inboxCount(user.id);
    connection.log.info("logged in", { user: user.name, pending });
    // Waiting events follow the response on the wire, never precede it.
    context.afterResponse(() => session.pusher.start());
    return { user: user.name, pending };
  },
};
