import { stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import { type Command, currentUser } from "./command.js";
import { BAD_CREDENTIALS } from "./login.js";

export const unregister: Command = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { connection, services } = context;
    const password = stringArg(args, "password");
    const user = currentUser(context);
    const nowMs = services.now().getTime();
    if (!services.loginThrottle.allows(user.name, connection.remoteAddress, nowMs)) {
      throw new ProtocolError("rate_limited", "too many failed attempts; wait a minute and try again");
    }
    const record = await services.store.findUser(user.name);
    if (record === undefined || !(await services.passwords.check(password, record.passwordHash))) {
      services.loginThrottle.recordFailure(user.name, connection.remoteAddress, nowMs);
      throw new ProtocolError("bad_credentials", BAD_CREDENTIALS);
    }
    const notified = await services.store.deleteUser(user.id, services.now().toISOString());
    services.sessions.wake(notified.userIds);
    connection.log.info("unregistered", { user: user.name });
    context.closeAfterResponse("unregistered");
    return undefined;
  },
};
