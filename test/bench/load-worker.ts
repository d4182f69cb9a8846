// A load-generator process: the bench calls its methods over the IPC channel (see
// worker-host.ts). Each method's state (connections, servers) lives until close is called
// or the process ends.

import {
  type BacklogDrainParams,
  type BacklogSendParams,
  drainBacklog,
  sendBacklog,
} from "./generators/backlog.js";
import {
  type EchoLoadParams,
  EchoServers,
  echoLoad,
  type HttpLoadParams,
  httpLoad,
  IdleSockets,
} from "./generators/echo.js";
import { IdleConnections, type UserRange } from "./generators/idle-connections.js";
import { PairsGenerator, type PairsRunParams, type PairsSetupParams } from "./generators/pairs.js";
import {
  drainRoomMember,
  type RoomDrainParams,
  RoomGenerator,
  type RoomRunParams,
  type RoomSetupParams,
} from "./generators/room.js";
import {
  type PeerBacklogDrainParams,
  type PeerBacklogSendParams,
  PeerPairsGenerator,
  type PeerPairsRunParams,
  type PeerPairsSetupParams,
  peerCleanup,
  peerDrainBacklog,
  peerSendBacklog,
} from "./peers/generators.js";
import type { PeerName } from "./peers/peer.js";

const pairs = new PairsGenerator();
const peerPairs = new PeerPairsGenerator();
const room = new RoomGenerator();
const idle = new IdleConnections();
const echoServers = new EchoServers();
const idleSockets = new IdleSockets();

const methods = {
  "pairs.setup": (params: PairsSetupParams) => pairs.setup(params),
  "pairs.run": (params: PairsRunParams) => pairs.run(params),
  "pairs.close": (_: null) => pairs.close(),
  "backlog.send": (params: BacklogSendParams) => sendBacklog(params),
  "backlog.drain": (params: BacklogDrainParams) => drainBacklog(params),
  "peer.pairs.setup": (params: PeerPairsSetupParams) => peerPairs.setup(params),
  "peer.pairs.run": (params: PeerPairsRunParams) => peerPairs.run(params),
  "peer.pairs.close": (_: null) => peerPairs.close(),
  "peer.backlog.send": (params: PeerBacklogSendParams) => peerSendBacklog(params),
  "peer.backlog.drain": (params: PeerBacklogDrainParams) => peerDrainBacklog(params),
  "peer.cleanup": (params: { peer: PeerName; users: string[] }) => peerCleanup(params),
  "room.setup": (params: RoomSetupParams) => room.setup(params),
  "room.run": (params: RoomRunParams) => room.run(params),
  "room.close": (_: null) => room.close(),
  "room.drain": (params: RoomDrainParams) => drainRoomMember(params),
  "idle.register": (params: UserRange) => idle.register(params),
  "idle.login": (params: UserRange) => idle.login(params),
  "idle.status": (_: null) => idle.status(),
  "idle.close": (_: null) => idle.close(),
  "echo.serveLines": (_: null) => echoServers.serveLines(),
  "echo.serveHttp": (_: null) => echoServers.serveHttp(),
  "echo.load": (params: EchoLoadParams) => echoLoad(params),
  "echo.idle": (params: { port: number; count: number; concurrency: number }) =>
    idleSockets.open(params.port, params.count, params.concurrency),
  "echo.closeIdle": (_: null) => idleSockets.close(),
  "http.load": (params: HttpLoadParams) => httpLoad(params),
  ping: (_: null) => process.pid,
};

export type WorkerMethods = typeof methods;

interface Call {
  readonly id: number;
  readonly method: keyof WorkerMethods;
  readonly params: any;
}

if (process.send !== undefined) {
  process.on("message", (call: Call) => {
    const method = methods[call.method] as (params: unknown) => unknown;
    Promise.resolve()
      .then(() => method(call.params))
      .then(
        (result) => process.send!({ id: call.id, result: result ?? null }),
        (error: unknown) =>
          process.send!({
            id: call.id,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          }),
      );
  });
  // The bench going away (even by SIGKILL) closes the channel: leave with it.
  process.on("disconnect", () => process.exit(0));
}
