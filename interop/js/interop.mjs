// Runs the official Azure Web PubSub JavaScript SDKs, unchanged, against
// the service (in CI: the emulator, started by ../js_test.go) and checks
// what each side observes.
//
//   WEBPUBSUB_CONNECTION_STRING  connection string of the service (secret)
//   WEBPUBSUB_HUB                hub to use; it should be empty at start
//   WEBPUBSUB_STREAM_HUB         hub of the group-stream step, where a Go
//                                client echoes every stream of group
//                                "to-go" back to group "from-go"
//   WEBPUBSUB_PRESENCE_HUB       hub whose event handler sends group
//   WEBPUBSUB_PRESENCE_PORT      presence events to this script's express
//                                handler on 127.0.0.1:PORT
//
// The script prints one line per passed step and exits 0, or prints the
// failed step and exits 1. It never prints the access key, a token or a
// client URL; every line goes through redact() as a safety net.
//
// Waits are promises settled by SDK events, each bounded by STEP_TIMEOUT_MS,
// and the whole run is bounded by TOTAL_TIMEOUT_MS.
//
// "Exactly these messages": after each step, every live client gets a
// fence, a text message sent with sendToConnection. A client's messages up
// to its fence must equal the expected list. REST calls made one after the
// other are delivered in order, and a client's sendToGroup is acked only
// after it was queued to every recipient, so nothing sent in the step can
// arrive after the fence.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import { createServer } from "node:http";
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import { WebPubSubEventHandler } from "@azure/web-pubsub-express";
import {
  WebPubSubClient,
  WebPubSubJsonProtocol,
  WebPubSubJsonReliableProtocol,
  SendMessageError,
} from "@azure/web-pubsub-client";

const STEP_TIMEOUT_MS = 10_000;
const TOTAL_TIMEOUT_MS = 90_000;

const connectionString = process.env.WEBPUBSUB_CONNECTION_STRING ?? "";
const hub = process.env.WEBPUBSUB_HUB ?? "";
const streamHub = process.env.WEBPUBSUB_STREAM_HUB ?? "";
const presenceHub = process.env.WEBPUBSUB_PRESENCE_HUB ?? "";
const presencePort = Number(process.env.WEBPUBSUB_PRESENCE_PORT ?? "0");

// ---------------------------------------------------------------------------
// Output, never with secrets.

const secrets = [];
{
  const m = /(?:^|;)\s*AccessKey=([^;]+)/i.exec(connectionString);
  if (m) secrets.push(m[1]);
}

function redact(s) {
  let out = String(s);
  for (const k of secrets) out = out.split(k).join("<redacted key>");
  return out
    .replace(/(access_token=)[^&\s"']+/gi, "$1<redacted>")
    .replace(/(Bearer\s+)[A-Za-z0-9._-]+/g, "$1<redacted>")
    .replace(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, "<redacted jwt>");
}

function log(line) {
  process.stdout.write(redact(line) + "\n");
}

let currentStep = "start";
function fail(err) {
  // Not every rejection is an Error: a stream's end, for one, is a plain
  // object; inspect shows its fields where String would say [object Object].
  const msg = err instanceof Error ? err.stack || err.message : inspect(err, { depth: 5 });
  process.stderr.write(redact(`FAIL in step "${currentStep}":\n${msg}\n`));
  process.exit(1);
}

if (!connectionString || !hub || !streamHub || !presenceHub || !presencePort) {
  fail(new Error("set WEBPUBSUB_CONNECTION_STRING, WEBPUBSUB_HUB, WEBPUBSUB_STREAM_HUB, WEBPUBSUB_PRESENCE_HUB and WEBPUBSUB_PRESENCE_PORT"));
}

const overall = setTimeout(
  () => fail(new Error(`the run did not finish within ${TOTAL_TIMEOUT_MS} ms`)),
  TOTAL_TIMEOUT_MS,
);
process.on("unhandledRejection", (err) => fail(err));

async function step(name, fn) {
  currentStep = name;
  const t0 = Date.now();
  await fn();
  log(`ok - ${name} (${Date.now() - t0} ms)`);
}

// ---------------------------------------------------------------------------
// Waiting for events.

function withTimeout(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Queue is a FIFO of events; take() waits for the next one.
class Queue {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.waiters = [];
  }
  push(item) {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  take(what) {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    let waiter;
    const p = new Promise((resolve) => {
      waiter = resolve;
      this.waiters.push(resolve);
    });
    return withTimeout(p, `${what} (${this.name})`).catch((err) => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
      throw err;
    });
  }
  assertEmpty(what) {
    assert.deepEqual(this.items, [], `${this.name}: unexpected ${what}`);
  }
}

// ---------------------------------------------------------------------------
// Messages as compared by the checks.

function b64(ab) {
  return Buffer.from(ab).toString("base64");
}

// normalize keeps what a receiver can observe through the SDK, minus the
// sequence id, which is checked on its own.
function normalize(kind, m) {
  const data = m.data instanceof ArrayBuffer ? { base64: b64(m.data) } : m.data;
  if (kind === "group") {
    return { from: "group", group: m.group, fromUserId: m.fromUserId ?? null, dataType: m.dataType, data };
  }
  return { from: "server", dataType: m.dataType, data };
}

const server = (dataType, data) => ({ from: "server", dataType, data });
const group = (name, fromUserId, dataType, data) => ({ from: "group", group: name, fromUserId, dataType, data });

// ---------------------------------------------------------------------------
// Server SDK.

// The Azure core pipeline refuses plain http unless told otherwise; an
// emulator on localhost is http. This is the SDK's documented client option,
// not a change to the SDK.
const insecure = /(?:^|;)\s*Endpoint=http:\/\//i.test(connectionString);
const service = new WebPubSubServiceClient(connectionString, hub, { allowInsecureConnection: insecure });

// The client endpoint the connection string implies (Endpoint + Port).
function expectedEndpoint() {
  const parts = {};
  for (const kv of connectionString.split(";")) {
    const i = kv.indexOf("=");
    if (i > 0) parts[kv.slice(0, i).trim().toLowerCase()] = kv.slice(i + 1).trim();
  }
  const u = new URL(parts.endpoint);
  if (parts.port) u.port = parts.port;
  return u.toString(); // with a trailing slash
}

function jwtClaims(token) {
  const parts = token.split(".");
  assert.equal(parts.length, 3, "the token is not a JWS compact serialization");
  const header = JSON.parse(Buffer.from(parts[0], "base64url").toString());
  const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString());
  return { header, claims };
}

// expectRestError runs fn, which must fail with the given HTTP status.
async function expectRestError(fn, status, what) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected HTTP ${status}, but the call succeeded`);
  assert.equal(err.statusCode, status, `${what}: expected HTTP ${status}, got ${err.statusCode}: ${err.message}`);
  return err;
}

// ---------------------------------------------------------------------------
// Client SDK.

const clients = [];

class TestClient {
  // tokenOptions go to getClientAccessToken; clientOptions to WebPubSubClient;
  // tokens come from the hub of via (the main hub by default).
  constructor(name, tokenOptions, clientOptions = {}, via = service) {
    this.name = name;
    this.userId = tokenOptions.userId;
    this.reliable = !clientOptions.protocol || clientOptions.protocol.isReliableSubProtocol;
    this.connected = new Queue(`${name} connected`);
    this.disconnected = new Queue(`${name} disconnected`);
    this.stopped = new Queue(`${name} stopped`);
    this.rejoinFailed = new Queue(`${name} rejoin-group-failed`);
    this.inbox = new Queue(`${name} messages`);
    this.lastSequenceId = 0;
    this.tokenRequests = 0;
    this.client = new WebPubSubClient(
      {
        getClientAccessUrl: async () => {
          this.tokenRequests++;
          const t = await via.getClientAccessToken(tokenOptions);
          return t.url;
        },
      },
      {
        // Failed acks must surface at once, not after three retries.
        messageRetryOptions: { maxRetries: 0 },
        ...clientOptions,
      },
    );
    this.client.on("connected", (e) => {
      this.lastSequenceId = 0; // a new connection numbers from 1 again
      this.connected.push(e);
    });
    this.client.on("disconnected", (e) => this.disconnected.push(e));
    this.client.on("stopped", (e) => this.stopped.push(e));
    this.client.on("rejoin-group-failed", (e) => this.rejoinFailed.push(e));
    this.client.on("server-message", (e) => this.receive("server", e.message));
    this.client.on("group-message", (e) => this.receive("group", e.message));
    clients.push(this);
  }

  // invoke calls invokeEvent. On the reliable protocol an invokeResponse
  // takes a sequence id of the connection, as messages do, so the next
  // message's id is one higher.
  async invoke(event, content, dataType) {
    try {
      return await this.client.invokeEvent(event, content, dataType);
    } finally {
      if (this.reliable) this.lastSequenceId++;
    }
  }

  receive(kind, m) {
    // The reliable protocol numbers every message 1, 2, 3... per
    // connection; the other carries no sequence id.
    if (this.reliable) {
      if (m.sequenceId !== this.lastSequenceId + 1) {
        fail(
          new Error(
            `${this.name}: sequenceId ${m.sequenceId} after ${this.lastSequenceId} on ${JSON.stringify(normalize(kind, m))}`,
          ),
        );
      }
      this.lastSequenceId = m.sequenceId;
    } else if (m.sequenceId !== undefined) {
      fail(new Error(`${this.name}: sequenceId ${m.sequenceId} on the non-reliable protocol`));
    }
    this.inbox.push(normalize(kind, m));
  }

  async start() {
    await withTimeout(this.client.start(), `${this.name} start()`);
    const e = await this.connected.take("the connected event");
    assert.equal(typeof e.connectionId, "string", `${this.name}: connected without a connectionId`);
    assert.ok(e.connectionId.length > 0, `${this.name}: empty connectionId`);
    assert.equal(e.userId, this.userId, `${this.name}: connected event userId`);
    this.id = e.connectionId;
    return e;
  }
}

let fenceCount = 0;

// settle checks that each client received exactly the expected messages,
// in order, since the previous settle. expected maps a client to its list;
// clients not in the map must have received nothing.
async function settle(live, expected = new Map()) {
  const fences = new Map();
  for (const c of live) {
    const text = `fence ${++fenceCount}`;
    fences.set(c, text);
    await service.sendToConnection(c.id, text, { contentType: "text/plain" });
  }
  for (const c of live) {
    const fence = server("text", fences.get(c));
    const got = [];
    for (;;) {
      const m = await c.inbox.take(`"${fence.data}" after ${JSON.stringify(got)}`);
      if (JSON.stringify(m) === JSON.stringify(fence)) break;
      got.push(m);
    }
    assert.deepEqual(got, expected.get(c) ?? [], `${c.name} received other messages than expected`);
  }
}

// eventually polls check until it returns true. It is used only where the
// SDK offers no event to wait for.
async function eventually(check, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function expectAckError(promise, name, what) {
  let err;
  try {
    await withTimeout(promise, what);
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected a ${name} ack, but the operation succeeded`);
  assert.ok(err instanceof SendMessageError, `${what}: expected SendMessageError, got ${err}`);
  assert.equal(err.errorDetail?.name, name, `${what}: ack error ${JSON.stringify(err.errorDetail)}`);
}

async function ack(promise, what) {
  const r = await withTimeout(promise, what);
  assert.equal(r.isDuplicated, false, `${what}: isDuplicated`);
  return r;
}

// ---------------------------------------------------------------------------

const ROOM = "room #1"; // needs escaping in REST paths and in nextLink
const LOBBY = "lobby";
const VIP = "vip";
// What the service says when it refuses to recover a connection.
const RECOVERY_REFUSED = "The connection could not be recovered.";

function packageVersion(name) {
  const file = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(file, "utf8")).version;
}

async function main() {
  log(
    `@azure/web-pubsub ${packageVersion("@azure/web-pubsub")} (api-version ${service.apiVersion}), ` +
      `@azure/web-pubsub-client ${packageVersion("@azure/web-pubsub-client")}, ws ${packageVersion("ws")}, ` +
      `node ${process.version}; hub ${hub}`,
  );

  await step("getClientAccessToken: userId, roles, groups and the URL", async () => {
    const t = await service.getClientAccessToken({
      userId: "alice",
      roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"],
      groups: [LOBBY],
      expirationTimeInMinutes: 5,
    });
    const endpoint = expectedEndpoint();
    const wsBase = endpoint.replace(/^http/, "ws") + `client/hubs/${hub}`;
    assert.equal(t.baseUrl, wsBase, "baseUrl");
    // Compared without printing: a failed assert.equal would show the token.
    assert.ok(t.url === `${wsBase}?access_token=${t.token}`, "url is baseUrl?access_token=<token>");
    const { header, claims } = jwtClaims(t.token);
    assert.equal(header.alg, "HS256");
    assert.equal(claims.sub, "alice");
    assert.deepEqual(claims.role, ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]);
    assert.deepEqual(claims["webpubsub.group"], [LOBBY]);
    assert.equal(claims.aud, `${endpoint}client/hubs/${hub}`);
    assert.ok(claims.exp - claims.iat === 300, "exp - iat is 5 minutes");
  });

  // alice: reliable (the default protocol), may join, leave and send to any
  // group, starts in the lobby. alice2: a second connection of alice, on
  // the non-reliable protocol, without roles.
  // bob: reliable, no roles, auto-reconnects. carol: the non-reliable
  // protocol, with roles for ROOM only.
  const alice = new TestClient(
    "alice",
    { userId: "alice", roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"], groups: [LOBBY] },
    { autoReconnect: false },
  );
  const alice2 = new TestClient("alice2", { userId: "alice" }, { protocol: WebPubSubJsonProtocol(), autoReconnect: false });
  const bob = new TestClient("bob", { userId: "bob" });
  const carol = new TestClient(
    "carol",
    { userId: "carol", roles: [`webpubsub.joinLeaveGroup.${ROOM}`, `webpubsub.sendToGroup.${ROOM}`] },
    { protocol: WebPubSubJsonProtocol(), autoReconnect: false },
  );
  let live = [alice, alice2, bob, carol];

  await step("start: the connected event of each client, with its userId", async () => {
    assert.equal(WebPubSubJsonReliableProtocol().name, "json.reliable.webpubsub.azure.v1");
    assert.equal(WebPubSubJsonProtocol().name, "json.webpubsub.azure.v1");
    for (const c of live) await c.start();
    const ids = new Set(live.map((c) => c.id));
    assert.equal(ids.size, live.length, "connection ids are distinct");
    await settle(live);
  });

  await step("connectionExists, userExists, groupExists (token group)", async () => {
    for (const c of live) assert.equal(await service.connectionExists(c.id), true, `connectionExists(${c.name})`);
    assert.equal(await service.connectionExists("no-such-connection"), false, "connectionExists(unknown)");
    assert.equal(await service.userExists("alice"), true, "userExists(alice)");
    assert.equal(await service.userExists("carol"), true, "userExists(carol)");
    assert.equal(await service.userExists("nobody"), false, "userExists(nobody)");
    assert.equal(await service.groupExists(LOBBY), true, "groupExists(lobby), from alice's token");
    assert.equal(await service.groupExists(ROOM), false, "groupExists(room) before anyone joined");
  });

  await step("sendToAll: text, JSON and binary reach every client", async () => {
    await service.sendToAll("hello everyone", { contentType: "text/plain" });
    const json = { greeting: "hi", n: 42, nested: { list: [1, "two", null, true] } };
    await service.sendToAll(json);
    await service.sendToAll(new Uint8Array([0, 1, 2, 250, 255]));
    const want = [
      server("text", "hello everyone"),
      server("json", json),
      server("binary", { base64: Buffer.from([0, 1, 2, 250, 255]).toString("base64") }),
    ];
    await settle(live, new Map(live.map((c) => [c, want])));
  });

  await step("sendToAll with a filter and excluded connections", async () => {
    await service.sendToAll("not bob", { contentType: "text/plain", filter: "userId ne 'bob'", excludedConnections: [alice2.id] });
    const want = [server("text", "not bob")];
    await settle(live, new Map([[alice, want], [carol, want]]));
  });

  await step("sendToUser reaches every connection of the user and no one else", async () => {
    await service.sendToUser("alice", "for alice", { contentType: "text/plain" });
    await service.sendToUser("bob", { to: "bob" });
    await service.sendToUser("nobody", "lost", { contentType: "text/plain" }); // 202, nobody receives
    await settle(
      live,
      new Map([
        [alice, [server("text", "for alice")]],
        [alice2, [server("text", "for alice")]],
        [bob, [server("json", { to: "bob" })]],
      ]),
    );
  });

  await step("sendToConnection: text and JSON to one connection", async () => {
    await service.sendToConnection(alice2.id, "just alice2", { contentType: "text/plain" });
    await service.sendToConnection(carol.id, [1, 2, 3]);
    await settle(live, new Map([[alice2, [server("text", "just alice2")]], [carol, [server("json", [1, 2, 3])]]]));
  });

  await step("token group: group(lobby).sendToAll reaches only alice", async () => {
    await service.group(LOBBY).sendToAll("lobby news", { contentType: "text/plain" });
    await settle(live, new Map([[alice, [group(LOBBY, null, "text", "lobby news")]]]));
  });

  await step("client joinGroup with roles; Forbidden without", async () => {
    await ack(alice.client.joinGroup(ROOM), "alice joinGroup(room)");
    await ack(carol.client.joinGroup(ROOM), "carol joinGroup(room), exact-group role");
    await expectAckError(carol.client.joinGroup("other"), "Forbidden", "carol joinGroup(other) with a role for room only");
    await expectAckError(bob.client.joinGroup(ROOM), "Forbidden", "bob joinGroup(room) without roles");
    assert.equal(await service.groupExists(ROOM), true, "groupExists(room)");
    assert.equal(await service.groupExists("other"), false, "groupExists(other)");
    await settle(live);
  });

  await step("grantPermission / hasPermission / revokePermission flip what the client may do", async () => {
    const room = { targetName: ROOM };
    assert.equal(await service.hasPermission(bob.id, "joinLeaveGroup", room), false, "bob joinLeaveGroup before grant");
    assert.equal(await service.hasPermission(alice.id, "joinLeaveGroup", room), true, "alice joinLeaveGroup from her role");
    assert.equal(await service.hasPermission(carol.id, "sendToGroup", room), true, "carol sendToGroup from her role");
    assert.equal(await service.hasPermission(carol.id, "sendToGroup", { targetName: "other" }), false, "carol sendToGroup(other)");

    await service.grantPermission(bob.id, "joinLeaveGroup", room);
    assert.equal(await service.hasPermission(bob.id, "joinLeaveGroup", room), true, "bob joinLeaveGroup after grant");
    assert.equal(await service.hasPermission(bob.id, "joinLeaveGroup", { targetName: LOBBY }), false, "grant is per group");
    await ack(bob.client.joinGroup(ROOM), "bob joinGroup(room) after grant");

    await expectAckError(bob.client.sendToGroup(ROOM, "x", "text"), "Forbidden", "bob sendToGroup before grant");
    await service.grantPermission(bob.id, "sendToGroup", room);
    assert.equal(await service.hasPermission(bob.id, "sendToGroup", room), true, "bob sendToGroup after grant");

    await service.revokePermission(bob.id, "joinLeaveGroup", room);
    assert.equal(await service.hasPermission(bob.id, "joinLeaveGroup", room), false, "bob joinLeaveGroup after revoke");
    await expectAckError(bob.client.leaveGroup(ROOM), "Forbidden", "bob leaveGroup(room) after revoke");
    await expectRestError(
      () => service.grantPermission("no-such-connection", "sendToGroup", room),
      404,
      "grantPermission to an unknown connection",
    );
    await settle(live);
  });

  await step("group(room).sendToAll reaches the members only, from the server", async () => {
    await service.group(ROOM).sendToAll("room news", { contentType: "text/plain" });
    await service.group(ROOM).sendToAll({ json: true });
    const want = [group(ROOM, null, "text", "room news"), group(ROOM, null, "json", { json: true })];
    await settle(live, new Map([[alice, want], [bob, want], [carol, want]]));
  });

  await step("client sendToGroup: text, JSON, binary, noEcho, Forbidden, duplicate ackId", async () => {
    await ack(alice.client.sendToGroup(ROOM, "hi from alice", "text"), "alice sendToGroup text");
    await ack(alice.client.sendToGroup(ROOM, { from: "alice", n: [1, 2] }, "json", { noEcho: true }), "alice sendToGroup json noEcho");
    const bytes = new Uint8Array([9, 8, 7, 0, 255]);
    await ack(bob.client.sendToGroup(ROOM, bytes.buffer, "binary"), "bob sendToGroup binary (granted)");
    await ack(carol.client.sendToGroup(ROOM, "carol here", "text", { noEcho: true }), "carol sendToGroup (non-reliable)");
    await expectAckError(alice2.client.sendToGroup(ROOM, "no role", "text"), "Forbidden", "alice2 sendToGroup without a role");
    // Idempotent publishing: the same ackId again is not executed, and the
    // SDK reports it as a success with isDuplicated.
    const ackId = 1_000_000; // far from the SDK's own ids, which count from 1
    await ack(alice.client.sendToGroup(ROOM, "once", "text", { ackId }), "alice sendToGroup with ackId");
    const dup = await withTimeout(alice.client.sendToGroup(ROOM, "twice?", "text", { ackId }), "the same ackId again");
    assert.equal(dup.isDuplicated, true, "the second send with the same ackId is reported as duplicated");
    const t = group(ROOM, "alice", "text", "hi from alice");
    const j = group(ROOM, "alice", "json", { from: "alice", n: [1, 2] });
    const b = group(ROOM, "bob", "binary", { base64: b64(bytes) });
    const c = group(ROOM, "carol", "text", "carol here");
    const once = group(ROOM, "alice", "text", "once");
    await settle(
      live,
      new Map([
        [alice, [t, b, c, once]],
        [bob, [t, j, b, c, once]],
        [carol, [t, j, b, once]],
      ]),
    );
  });

  await step("group(room).listConnections (a Promise of a pager): every member, paged by nextLink", async () => {
    const want = [alice, bob, carol].map((c) => ({ connectionId: c.id, userId: c.userId }));
    const sort = (l) => [...l].sort((x, y) => (x.connectionId < y.connectionId ? -1 : 1));

    const all = [];
    for await (const m of await service.group(ROOM).listConnections()) all.push({ ...m });
    assert.deepEqual(sort(all), sort(want), "listConnections()");

    const pages = [];
    for await (const page of (await service.group(ROOM).listConnections({ maxPageSize: 1 })).byPage()) {
      pages.push(page.map((m) => ({ ...m })));
    }
    assert.equal(pages.length, 3, `maxPageSize 1 over 3 members: pages ${JSON.stringify(pages)}`);
    for (const p of pages) assert.equal(p.length, 1, "one member per page");
    assert.deepEqual(sort(pages.flat()), sort(want), "members over all pages");

    const top = [];
    for await (const m of await service.group(ROOM).listConnections({ maxPageSize: 1, top: 2 })) top.push({ ...m });
    assert.equal(top.length, 2, `top 2: ${JSON.stringify(top)}`);

    const none = [];
    for await (const m of await service.group("empty group").listConnections()) none.push(m);
    assert.deepEqual(none, [], "a group without members lists nothing");
  });

  await step("group(room).removeConnection / addConnection", async () => {
    await service.group(ROOM).removeConnection(carol.id);
    await service.group(ROOM).sendToAll("without carol", { contentType: "text/plain" });
    await service.group(ROOM).addConnection(carol.id);
    await service.group(ROOM).sendToAll("carol is back", { contentType: "text/plain" });
    await service.group(ROOM).removeConnection("no-such-connection"); // idempotent 204
    await expectRestError(() => service.group(ROOM).addConnection("no-such-connection"), 404, "addConnection(unknown)");
    const a = group(ROOM, null, "text", "without carol");
    const b = group(ROOM, null, "text", "carol is back");
    await settle(live, new Map([[alice, [a, b]], [bob, [a, b]], [carol, [b]]]));
  });

  await step("group(vip).addUser adds every connection of the user", async () => {
    assert.equal(await service.groupExists(VIP), false, "groupExists(vip) before");
    await service.group(VIP).addUser("alice");
    assert.equal(await service.groupExists(VIP), true, "groupExists(vip) after addUser");
    await expectRestError(() => service.group(VIP).addUser("nobody"), 404, "addUser(nobody)");
    await service.group(VIP).sendToAll("vip only", { contentType: "text/plain" });
    const want = [group(VIP, null, "text", "vip only")];
    await settle(live, new Map([[alice, want], [alice2, want]]));
  });

  await step("invokeEvent: the application server answers through the emulator (reliable and not)", async () => {
    for (const c of [alice, carol]) {
      const res = await c.invoke("echo", `hi from ${c.name}`, "text");
      assert.equal(res.dataType, "text", `${c.name} dataType`);
      assert.equal(res.data, `echo: hi from ${c.name}`, `${c.name} data`);
    }
    await assert.rejects(alice.invoke("fail", "x", "text"), (err) => {
      assert.equal(err.errorDetail?.name, "InternalServerError", "a failed invocation's error name");
      return true;
    });
  });

  await step("group streams: 1,000 fragments from JavaScript to a Go client and back, in order", async () => {
    const N = 1000;
    const streams = new WebPubSubServiceClient(connectionString, streamHub, { allowInsecureConnection: insecure });
    const streamer = new TestClient(
      "streamer",
      { userId: "streamer", roles: ["webpubsub.sendToGroup.to-go", "webpubsub.joinLeaveGroup.from-go"] },
      { autoReconnect: false },
      streams,
    );
    await streamer.start();
    // The Go client opens its echo stream when the first fragment
    // arrives; subscribe before sending anything.
    const inbound = new Queue("streamer inbound streams");
    const sub = streamer.client.onGroupStream((s) => inbound.push(s), { groupNames: ["from-go"] });
    await ack(streamer.client.joinGroup("from-go"), "streamer joinGroup(from-go)");
    const writer = await withTimeout(streamer.client.openGroupStream("to-go", { noEcho: true }), "openGroupStream(to-go)");
    // The service acknowledges a fragment once it has taken it, not once
    // every receiver has read it, and the client's write resolves once the
    // fragment is on the socket: nothing end to end keeps a fast publisher
    // from running 1,000 fragments ahead of a busy receiver, and a
    // receiver that falls a whole reliable buffer (1,000 messages) behind
    // is closed with 1008. Like an application that streams to a slower
    // peer, the script keeps at most WINDOW fragments in flight: it writes
    // fragment i only after the echo of fragment i - WINDOW came back.
    const WINDOW = 100;
    const sent = [];
    const got = [];
    let echoed = () => {};
    const readEcho = async () => {
      const echo = await inbound.take("the Go client's echo stream");
      assert.equal(echo.groupName, "from-go", "echo stream group");
      for await (const m of echo) {
        got.push(m);
        echoed();
      }
    };
    const reading = readEcho();
    reading.catch(() => {}); // awaited below; this only keeps node from calling it unhandled meanwhile
    const echoedAtLeast = (n) =>
      got.length >= n
        ? Promise.resolve()
        : withTimeout(
            Promise.race([
              new Promise((resolve) => {
                echoed = () => {
                  if (got.length >= n) resolve();
                };
              }),
              reading.then(() => {
                throw new Error(`the echo stream ended after ${got.length} fragments`);
              }),
            ]),
            `the echo of fragment ${n}`,
          );
    for (let i = 1; i <= N; i++) {
      if (i > WINDOW) await echoedAtLeast(i - WINDOW);
      const fragment = i % 3 === 0 ? { n: i, text: `fragment ${i}` } : `fragment ${i}`;
      sent.push(fragment);
      await writer.write(fragment, typeof fragment === "string" ? "text" : "json");
    }
    await withTimeout(writer.end(), "writer.end()");
    await withTimeout(reading, "the echo stream to end", 30_000);
    assert.equal(got.length, N, `the echo has ${got.length} fragments`);
    for (let i = 0; i < N; i++) {
      assert.equal(got[i].stream.streamSequenceId, i + 1, `fragment ${i + 1}: streamSequenceId`);
      assert.equal(got[i].fromUserId, "go-echo", `fragment ${i + 1}: fromUserId`);
      assert.deepEqual(got[i].data, sent[i], `fragment ${i + 1}: data`);
      assert.equal(got[i].dataType, typeof sent[i] === "string" ? "text" : "json", `fragment ${i + 1}: dataType`);
    }
    await sub.close();
    streamer.client.stop();
    await streamer.stopped.take("streamer stopped");
    clients.splice(clients.indexOf(streamer), 1);
  });

  await step("group presence: express onGroupJoined / onGroupLeft receive the emulator's events", async () => {
    const joined = new Queue("onGroupJoined");
    const left = new Queue("onGroupLeft");
    const handler = new WebPubSubEventHandler(presenceHub, {
      onGroupJoined: (req) => joined.push(req),
      onGroupLeft: (req) => left.push(req),
    });
    // The express middleware needs only baseUrl and path of an express
    // request; node's own server provides the rest.
    const middleware = handler.getMiddleware();
    const app = createServer((req, res) => {
      req.baseUrl = "";
      req.path = new URL(req.url, "http://localhost").pathname;
      middleware(req, res, () => {
        res.statusCode = 404;
        res.end();
      });
    });
    await new Promise((resolve) => app.listen(presencePort, "127.0.0.1", resolve));
    try {
      const presence = new WebPubSubServiceClient(connectionString, presenceHub, { allowInsecureConnection: insecure });
      const dave = new TestClient("dave", { userId: "dave", roles: ["webpubsub.joinLeaveGroup"] }, { autoReconnect: false }, presence);
      await dave.start();
      await ack(dave.client.joinGroup("stage"), "dave joinGroup(stage)");
      const j = await joined.take("onGroupJoined(stage)");
      assert.equal(j.group, "stage", "onGroupJoined group");
      assert.equal(j.context.connectionId, dave.id, "onGroupJoined connectionId");
      assert.equal(j.context.userId, "dave", "onGroupJoined userId");
      await presence.group("backstage").addConnection(dave.id);
      assert.equal((await joined.take("onGroupJoined(backstage)")).group, "backstage", "REST join");
      await ack(dave.client.leaveGroup("stage"), "dave leaveGroup(stage)");
      const l = await left.take("onGroupLeft(stage)");
      assert.equal(l.group, "stage", "onGroupLeft group");
      assert.equal(l.context.connectionId, dave.id, "onGroupLeft connectionId");
      dave.client.stop();
      await dave.stopped.take("dave stopped");
      // Closing leaves every group the connection was in.
      assert.equal((await left.take("onGroupLeft(backstage) at close")).group, "backstage", "leave at close");
      clients.splice(clients.indexOf(dave), 1);
    } finally {
      await new Promise((resolve) => app.close(resolve));
    }
  });

  await step("client leaveGroup stops group messages", async () => {
    await ack(alice.client.leaveGroup(ROOM), "alice leaveGroup(room)");
    await service.group(ROOM).sendToAll("after alice left", { contentType: "text/plain" });
    const want = [group(ROOM, null, "text", "after alice left")];
    await settle(live, new Map([[bob, want], [carol, want]]));
  });

  await step("closeConnection with a reason (non-reliable client): disconnected carries it", async () => {
    await service.closeConnection(carol.id, { reason: "carol, goodbye" });
    assert.equal(await service.connectionExists(carol.id), false, "connectionExists(carol) right after closeConnection");
    assert.equal(await service.userExists("carol"), false, "userExists(carol) right after closeConnection");
    const d = await carol.disconnected.take("the disconnected event");
    assert.equal(d.connectionId, carol.id, "disconnected connectionId");
    assert.equal(d.message?.message, "carol, goodbye", `disconnected message ${JSON.stringify(d.message)}`);
    await carol.stopped.take("the stopped event (autoReconnect off)");
    live = live.filter((c) => c !== carol);
    await settle(live);
  });

  await step("closeConnection with a reason (reliable client): disconnected, then a new connection", async () => {
    const old = bob.id;
    const tokensBefore = bob.tokenRequests;
    await service.closeConnection(old, { reason: "bob, goodbye" });
    assert.equal(await service.connectionExists(old), false, "connectionExists(bob) right after closeConnection");
    const d = await bob.disconnected.take("the disconnected event");
    assert.equal(d.connectionId, old, "disconnected connectionId");
    // The reason reaches the client in a disconnected frame, but the
    // reliable SDK then tries to recover (close code 1000 is not 1008). A
    // REST-closed connection is not recoverable: the service answers the
    // recovery with its own disconnected frame and close 1008
    // (client-protocol.md §12.5), and the SDK reports the last frame it got.
    assert.equal(d.message?.message, RECOVERY_REFUSED, `disconnected message ${JSON.stringify(d.message)}`);
    // autoReconnect (the default) starts a new connection with a new token.
    const e = await bob.connected.take("the connected event of the new connection");
    assert.notEqual(e.connectionId, old, "a new connection id");
    assert.equal(e.userId, "bob");
    assert.equal(bob.tokenRequests, tokensBefore + 1, "getClientAccessUrl was called again");
    bob.id = e.connectionId;
    assert.equal(await service.connectionExists(bob.id), true, "connectionExists(new bob)");
    // Membership and granted permissions belonged to the old connection.
    // The SDK rejoins the groups it joined itself (room), but the new
    // connection has no role: the rejoin is Forbidden and reported.
    const r = await bob.rejoinFailed.take("the rejoin-group-failed event");
    assert.equal(r.group, ROOM, "rejoin-group-failed group");
    assert.equal(r.error?.errorDetail?.name, "Forbidden", `rejoin error ${r.error}`);
    await service.group(ROOM).sendToAll("bob is not back", { contentType: "text/plain" });
    await settle(live);
  });

  await step("stop: disconnected and stopped events, no reconnection; the connection ends", async () => {
    const id = bob.id;
    bob.client.stop();
    const d = await bob.disconnected.take("the disconnected event after stop()");
    assert.equal(d.connectionId, id, "disconnected connectionId");
    await bob.stopped.take("the stopped event after stop()");
    live = live.filter((c) => c !== bob);
    // The service learns of the end from the client's close frame, and the
    // client may see its close completed first: no event orders the two,
    // so this one check polls.
    await eventually(async () => !(await service.connectionExists(id)), "connectionExists(bob) to turn false after stop()");
    assert.equal(await service.userExists("bob"), false, "userExists(bob) after stop()");
    bob.connected.assertEmpty("connected event: stop() must not reconnect");
    await settle(live);
  });

  await step("closeAllConnections with a reason: every client is disconnected", async () => {
    const ids = new Map(live.map((c) => [c, c.id]));
    await service.closeAllConnections({ reason: "maintenance" });
    for (const [c, id] of ids) assert.equal(await service.connectionExists(id), false, `connectionExists(${c.name}) after closeAll`);
    assert.equal(await service.userExists("alice"), false, "userExists(alice) after closeAll");
    assert.equal(await service.groupExists(LOBBY), false, "groupExists(lobby) after closeAll");
    assert.equal(await service.groupExists(VIP), false, "groupExists(vip) after closeAll");
    const messages = [];
    for (const [c, id] of ids) {
      const d = await c.disconnected.take("the disconnected event");
      assert.equal(d.connectionId, id, `${c.name}: disconnected connectionId`);
      await c.stopped.take("the stopped event (autoReconnect off)");
      messages.push([c, d.message]);
    }
    // The non-reliable client reports the reason; the reliable one reports
    // the refusal of its recovery attempt, as in the closeConnection step.
    for (const [c, m] of messages) {
      const want = c.reliable ? RECOVERY_REFUSED : "maintenance";
      assert.equal(m?.message, want, `${c.name}: disconnected message ${JSON.stringify(m)}`);
    }
  });

  for (const c of clients) c.client.stop();
  clearTimeout(overall);
  log("all checks passed");
  // The SDK's keep-alive loops end only after their current delay.
  process.exit(0);
}

main().catch(fail);
