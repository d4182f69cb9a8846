// Scenario: a room (protocol v2). A room of `members` users, `online` of them logged in and
// acking every event, `senders` (members too, online) sending as fast as a window allows, the
// rest offline. Figures: room messages sent per second, deliveries fanned out per second, the
// latency to the online members, the database growth per message (pages in use), then the drain
// of one offline member. A server that answers room_create with unknown_op (before protocol v2)
// is reported as not supporting rooms.

import type { BenchContext } from "../bench-context.js";
import { percentiles, perSecond } from "../stats.js";
import { withWorkers } from "../worker-host.js";

const S = "room";
const ROOM = "#bench-room";

export async function roomScenario(ctx: BenchContext): Promise<void> {
  const size = ctx.sizes.room;
  const members = Array.from({ length: size.members }, (_, k) => `room-member${k}`);
  const senders = members.slice(0, size.senders);
  const online = members.slice(size.senders, size.senders + size.online);
  const offline = members.slice(size.senders + size.online);
  await ctx.withServer(S, { args: ["--send-rate", "0", "--scrypt-cost", "1024"] }, (server, db) =>
    withWorkers(1, S, async ([worker]) => {
      const timeoutMs = ctx.sizes.deadlineMs / 3;
      const setup = await worker!.call("room.setup", {
        port: server.port,
        room: ROOM,
        members,
        senders,
        online,
      });
      if (!setup.supported) {
        ctx.note(
          `room: rooms not supported by this server (room_create answered ${setup.answer}); no figures`,
        );
        process.stderr.write("bench: room: rooms not supported by this server\n");
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const bytesBefore = await db.bytesInUse();
      const run = await worker!.call("room.run", {
        messages: size.messages,
        window: size.window,
        textBytes: size.textBytes,
        timeoutMs,
      });
      if (run.errors.length > 0) throw new Error(run.errors.join("; "));
      const total = run.sent;
      const bytesAfter = await db.bytesInUse();
      const what = `room of ${size.members} (${size.online} online receivers, ${size.senders} senders), ${total} msgs`;
      ctx.row(
        S,
        `room messages sent (send answered), ${what}`,
        perSecond(total, run.sentEndMs - run.startMs),
        "msgs/s",
      );
      const deliveredMs = run.deliveredEndMs - run.startMs;
      ctx.row(
        S,
        "delivered to the online receivers (message events)",
        perSecond(run.delivered, deliveredMs),
        "events/s",
      );
      ctx.row(
        S,
        `fanned out to every other member (${size.members - 1} inbox events per message)`,
        perSecond(total * (size.members - 1), deliveredMs),
        "events/s",
        { bound: ctx.rowsBound() },
      );
      const [p50, p99] = percentiles(run.latenciesMs, [50, 99]);
      ctx.row(S, "send-to-receive latency to online members p50", p50!, "ms");
      ctx.row(S, "send-to-receive latency to online members p99", p99!, "ms");
      ctx.row(
        S,
        db.backend === "sqlite"
          ? "database growth (pages in use, WAL included) per room message"
          : "database growth (pg_database_size, WAL not included) per room message",
        (bytesAfter - bytesBefore) / total,
        "bytes/msg",
      );
      await worker!.call("room.close", null);

      const drained = await worker!.call("room.drain", {
        port: server.port,
        user: offline[0]!,
        room: ROOM,
        messages: total,
        timeoutMs,
      });
      if (drained.errors.length > 0) throw new Error(drained.errors.join("; "));
      ctx.row(
        S,
        `drain of one offline member, ${total} msgs, one ack per event (login answered → last ack processed)`,
        (drained.ackedMs - drained.loginAnsweredMs) / 1000,
        "s",
      );
    }),
  );
}
