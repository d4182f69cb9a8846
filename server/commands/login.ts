import type { Session } from "../delivery/session.js";
import { DEFAULT_DEVICE, isValidDeviceName } from "../protocol/account-rules.js";
import { optionalStringArg, stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import { StoreError } from "../store/store.js";
import type { Command } from "./command.js";
import { authenticate } from "./credentials.js";

export const login: Command<"login"> = {
  needsLogin: false,
  pipelined: false,
  async run(context, args) {
    const { connection, services } = context;
    const userName = stringArg(args, "user");
    const password = stringArg(args, "password");
    const device = optionalStringArg(args, "device") ?? DEFAULT_DEVICE;
    if (!isValidDeviceName(device)) {
      throw new ProtocolError("bad_argument", '"device" is 1 to 32 of the characters A-Z a-z 0-9 _ . -');
    }
    const record = await authenticate(context, userName, password);

    const previous = connection.session;
    if (previous !== undefined) {
      connection.session = undefined;
      await services.sessions.detach(previous);
    }
    let session: Session;
    try {
      session = await services.sessions.attach({ id: record.id, name: record.user }, device, connection);
    } catch (error) {
      // The account was deleted while its password was checked.
      if (error instanceof StoreError && error.code === "no_such_user") {
        throw new ProtocolError("bad_credentials", "wrong user name or password");
      }
      throw error;
    }
    if (connection.state !== "open") {
      // It closed while we checked the password; its close found no session to end.
      await services.sessions.detach(session);
      return undefined;
    }
    connection.session = session;
    const pending = await services.store.inboxCount(record.id, session.device.id);
    connection.log.info("logged in", { user: record.user, device: session.device.name, pending });
    // Waiting events follow the response on the wire, never precede it.
    context.afterResponse(() => session.start());
    return { user: record.user, pending };
  },
};
