import { isValidRoomName, isValidUserName } from "../protocol/account-rules.js";
import { stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import { codePointLength, hasInvalidCharacter, isBlank } from "../protocol/text-rules.js";
import { type Command, currentSession } from "./command.js";

const MAX_CID_CHARS = 64;

export const send: Command<"send"> = {
  needsLogin: true,
  growsStore: true,
  pipelined: true,
  async run(context, args) {
    const { connection, services } = context;
    const session = currentSession(context);
    const to = stringArg(args, "to");
    const text = stringArg(args, "text");
    const cid = stringArg(args, "cid");

    // Validate everything before any side effect: a refused send changes nothing.
    if (cid.length < 1 || cid.length > MAX_CID_CHARS) {
      throw new ProtocolError("bad_cid", `"cid" must be 1 to ${MAX_CID_CHARS} characters`);
    }
    if (codePointLength(text) > services.settings.maxTextChars) {
      throw new ProtocolError(
        "text_too_long",
        `a text is at most ${services.settings.maxTextChars} characters`,
      );
    }
    if (isBlank(text)) throw new ProtocolError("empty_text", "the text is empty");
    if (hasInvalidCharacter(text)) {
      throw new ProtocolError("invalid_text", "the text holds a control character or a lone surrogate");
    }
    if (to.startsWith("#")) {
      if (!isValidRoomName(to))
        throw new ProtocolError("no_such_room", `there is no room "${to.slice(0, 33)}"`);
    } else if (!isValidUserName(to)) {
      throw new ProtocolError("no_such_user", `there is no user "${to.slice(0, 32)}"`);
    }
    if (!services.sendLimiter.take(String(session.user.id), services.now().getTime())) {
      throw new ProtocolError("rate_limited", "you are sending too fast; slow down");
    }

    // Store first: the response promises durability, and delivery only ever reads what is stored.
    const stored = await services.intake.submit({
      senderId: session.user.id,
      senderDeviceId: session.device.id,
      to,
      cid,
      text,
      at: services.now().toISOString(),
      maxPending: services.settings.maxPending,
    });
    services.metrics.messageSent();
    if (connection.log.isDebug()) connection.log.debug("message stored", { id: stored.id, to, text });
    return { id: stored.id, at: stored.at, duplicate: stored.duplicate };
  },
};
