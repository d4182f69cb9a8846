import { integerArg, optionalStringArg } from "../protocol/arguments.js";
import { PROTOCOL_VERSION } from "../protocol/messages.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import type { Command } from "./command.js";

export const hello: Command<"hello"> = {
  needsLogin: false,
  pipelined: false,
  async run({ connection, services }, args) {
    const version = integerArg(args, "version");
    const client = optionalStringArg(args, "client");
    if (version < 1 || version > PROTOCOL_VERSION) {
      throw new ProtocolError(
        "unsupported_version",
        `this server speaks protocol versions 1 to ${PROTOCOL_VERSION}`,
      );
    }
    if (client !== undefined) connection.log.debug("hello", { client: client.slice(0, 100) });
    return { server: services.serverName, version, limits: services.limits };
  },
};
