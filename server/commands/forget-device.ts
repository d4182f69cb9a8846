import { stringArg } from "../protocol/arguments.js";
import { type Command, currentSession } from "./command.js";

export const forgetDevice: Command<"forget_device"> = {
  needsLogin: true,
  pipelined: false,
  async run(context, args) {
    const { connection, services } = context;
    const session = currentSession(context);
    const forgotten = await services.store.forgetDevice(session.user.id, stringArg(args, "device"));
    if (forgotten.id === session.device.id) {
      // Its own device: the answer first, then the connection goes with the device.
      context.closeAfterResponse("device forgotten");
    } else {
      services.sessions.endDevice(forgotten, connection);
    }
    return {};
  },
};
