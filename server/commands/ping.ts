import type { Command } from "./command.js";

// Pipelined, yet its response still follows every earlier response: the connection writes
// responses in request order, which is what makes a ping a barrier for the client.
export const ping: Command<"ping"> = {
  needsLogin: false,
  pipelined: true,
  async run({ services }) {
    return { at: services.now().toISOString() };
  },
};
