import { stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import type { Command } from "./command.js";

// One message for an unknown user and a wrong password, so neither reveals which accounts exist.
export const BAD_CREDENTIALS = "wrong user name or password";

export const login: Command = {
  needsLogin: false,
  pipelined: false,
  async run(context, args) {
    const { connection, services } = context;
    const userName = stringArg(args, "user");
    const password = stringArg(args, "password");
    const nowMs = services.now().getTime();
    if (!services.loginThrottle.allows(userName, connection.remoteAddress, nowMs)) {
      throw new ProtocolError("rate_limited", "too many failed log-ins; wait a minute and try again");
    }
    const record = await services.store.findUser(userName);
    const ok = await services.passwords.check(password, record?.passwordHash);
    if (!ok || record === undefined) {
      services.loginThrottle.recordFailure(userName, connection.remoteAddress, nowMs);
      connection.log.info("log-in refused", { user: userName.slice(0, 32) });
      throw new ProtocolError("bad_credentials", BAD_CREDENTIALS);
    }

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
