import type { Command } from "./command.js";

export const logout: Command<"logout"> = {
  needsLogin: true,
  pipelined: false,
  async run(context) {
    // The session ends when the connection closes (Server wires close to SessionRegistry.detach).
    context.closeAfterResponse("logout");
    return undefined;
  },
};
