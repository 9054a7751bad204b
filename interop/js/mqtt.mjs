// Runs MQTT.js (the `mqtt` package, the library of the service's MQTT
// quickstarts), unchanged, against the service (in CI: the emulator,
// started by ../mqtt_test.go), with an MQTT 3.1.1 and an MQTT 5.0 client,
// a JSON-subprotocol client (@azure/web-pubsub-client) and REST sends
// (@azure/web-pubsub) in one group.
//
//   WEBPUBSUB_CONNECTION_STRING  connection string of the service (secret)
//   WEBPUBSUB_HUB                hub to use; it should be empty at start
//   WEBPUBSUB_MQTT_URL_V3        client URLs of the MQTT endpoint for the
//   WEBPUBSUB_MQTT_URL_V5        two MQTT clients (secrets: they hold a
//                                token), made by the Go service client
//                                with the roles to join and send to any
//                                group
//
// The script prints one line per passed step and "all checks passed", or
// the failed step, and exits 1. It never prints the access key, a token or
// a client URL; every line goes through redact() as a safety net. Every
// wait is bounded by STEP_TIMEOUT_MS.

import { WebPubSubServiceClient } from "@azure/web-pubsub";
import { WebPubSubClient } from "@azure/web-pubsub-client";
import mqtt from "mqtt";

const STEP_TIMEOUT_MS = 10_000;
const GROUP = "room";
const SERVER_TOPIC = "$webpubsub/server/messages";

function redact(s) {
  return String(s)
    .replace(/access_token=[^&\s"']+/gi, "access_token=<redacted>")
    .replace(/AccessKey=[^;\s"']+/gi, "AccessKey=<redacted>")
    .replace(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, "<jwt>");
}

function log(s) {
  console.log(redact(s));
}

function check(cond, what) {
  if (!cond) {
    throw new Error("check failed: " + what);
  }
  log("ok - " + what);
}

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out: " + what)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// inbox queues what a client receives, so that a step can wait for the
// next item in order.
function inbox() {
  const items = [];
  const waiters = [];
  return {
    push(item) {
      const w = waiters.shift();
      if (w) {
        w(item);
      } else {
        items.push(item);
      }
    },
    next(what) {
      if (items.length > 0) {
        return Promise.resolve(items.shift());
      }
      return within(new Promise((resolve) => waiters.push(resolve)), what);
    },
    get size() {
      return items.length;
    },
  };
}

// connectMQTT connects an MQTT.js client of protocolVersion with the
// client id, and resolves with the client, its CONNACK and its inbox.
function connectMQTT(url, protocolVersion, clientId) {
  return within(
    new Promise((resolve, reject) => {
      const client = mqtt.connect(url, { protocolVersion, clientId, clean: true, reconnectPeriod: 0, connectTimeout: STEP_TIMEOUT_MS });
      const box = inbox();
      client.on("message", (topic, payload, packet) => box.push({ topic, payload: payload.toString("utf8"), packet }));
      client.once("connect", (connack) => resolve({ client, connack, box }));
      client.once("error", (err) => reject(new Error("MQTT " + clientId + ": " + redact(err.message))));
    }),
    "MQTT connect of " + clientId,
  );
}

async function expectPublish(who, box, topic, payload, contentType) {
  const m = await box.next(who + " receives " + JSON.stringify(payload));
  check(m.topic === topic && m.payload === payload, `${who} gets ${JSON.stringify(payload)} on ${topic} (got ${JSON.stringify(m.payload)} on ${m.topic})`);
  if (contentType !== undefined) {
    const got = m.packet.properties?.contentType;
    check(got === contentType, `${who} is told the content type ${contentType} (got ${got})`);
  }
}

async function main() {
  const connectionString = process.env.WEBPUBSUB_CONNECTION_STRING;
  const hub = process.env.WEBPUBSUB_HUB;
  const url3 = process.env.WEBPUBSUB_MQTT_URL_V3;
  const url5 = process.env.WEBPUBSUB_MQTT_URL_V5;
  if (!connectionString || !hub || !url3 || !url5) {
    throw new Error("set WEBPUBSUB_CONNECTION_STRING, WEBPUBSUB_HUB, WEBPUBSUB_MQTT_URL_V3 and WEBPUBSUB_MQTT_URL_V5");
  }
  const service = new WebPubSubServiceClient(connectionString, hub, { allowInsecureConnection: true });

  const v3 = await connectMQTT(url3, 4, "jsMqtt311");
  check((v3.connack.returnCode ?? 0) === 0, "MQTT 3.1.1 client connects");
  const v5 = await connectMQTT(url5, 5, "jsMqtt5");
  check((v5.connack.reasonCode ?? 0) === 0, "MQTT 5.0 client connects");
  check(await service.connectionExists("jsMqtt5"), "the MQTT client id is the connection id");

  for (const [name, c] of [["3.1.1", v3], ["5.0", v5]]) {
    const granted = await within(c.client.subscribeAsync(GROUP, { qos: 1 }), "SUBSCRIBE of " + name);
    check(granted.length === 1 && granted[0].qos === 1, `MQTT ${name} subscribes to ${GROUP} with QoS 1`);
    // MQTT.js rejects a SUBACK whose codes are all failures.
    let code;
    try {
      code = (await within(c.client.subscribeAsync("a/+", { qos: 1 }), "wildcard SUBSCRIBE of " + name))[0].qos;
    } catch (err) {
      code = err.packet?.granted?.[0];
    }
    const want = name === "5.0" ? 0xa2 : 0x80;
    check(code === want, `MQTT ${name} wildcard subscription is refused with ${want} (got ${code})`);
  }

  // A JSON-subprotocol client in the same group.
  const jsonBox = inbox();
  const token = await service.getClientAccessToken({ roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"] });
  const json = new WebPubSubClient(token.url, { autoReconnect: false });
  json.on("group-message", (e) => jsonBox.push(e.message));
  await within(json.start(), "JSON client start");
  await within(json.joinGroup(GROUP), "JSON client joinGroup");
  check(true, "JSON client joins " + GROUP);

  // A REST send to the group reaches both MQTT clients on the topic.
  await service.group(GROUP).sendToAll("hello from REST", { contentType: "text/plain" });
  await expectPublish("MQTT 3.1.1", v3.box, GROUP, "hello from REST");
  await expectPublish("MQTT 5.0", v5.box, GROUP, "hello from REST", "text/plain");
  let jm = await jsonBox.next("JSON client receives the REST send");
  check(jm.dataType === "text" && jm.data === "hello from REST", "JSON client gets the REST send");

  // MQTT 3.1.1 publishes: binary for everyone.
  await within(v3.client.publishAsync(GROUP, "from 3.1.1", { qos: 1 }), "PUBLISH of 3.1.1");
  await expectPublish("MQTT 3.1.1 (its own)", v3.box, GROUP, "from 3.1.1");
  await expectPublish("MQTT 5.0", v5.box, GROUP, "from 3.1.1");
  jm = await jsonBox.next("JSON client receives the 3.1.1 publish");
  check(jm.dataType === "binary" && Buffer.from(jm.data).toString("utf8") === "from 3.1.1", "JSON client gets the 3.1.1 publish as binary");

  // MQTT 5.0 publishes text with a content type and a user property.
  await within(
    v5.client.publishAsync(GROUP, "from 5.0", { qos: 1, properties: { contentType: "text/plain", userProperties: { device: "js" } } }),
    "PUBLISH of 5.0",
  );
  await expectPublish("MQTT 3.1.1", v3.box, GROUP, "from 5.0");
  const own = await v5.box.next("MQTT 5.0 receives its own publish");
  check(own.payload === "from 5.0" && own.packet.properties?.userProperties?.device === "js", "MQTT 5.0 gets its publish with the user property");
  jm = await jsonBox.next("JSON client receives the 5.0 publish");
  check(jm.dataType === "text" && jm.data === "from 5.0", "JSON client gets the 5.0 publish as text");

  // The JSON client publishes to the group.
  await within(json.sendToGroup(GROUP, { n: 1 }, "json", { noEcho: true }), "JSON sendToGroup");
  await expectPublish("MQTT 3.1.1", v3.box, GROUP, '{"n":1}');
  await expectPublish("MQTT 5.0", v5.box, GROUP, '{"n":1}', "application/json");

  // A send to all arrives on the server topic.
  await service.sendToAll("to everyone", { contentType: "text/plain" });
  await expectPublish("MQTT 3.1.1", v3.box, SERVER_TOPIC, "to everyone");
  await expectPublish("MQTT 5.0", v5.box, SERVER_TOPIC, "to everyone", "text/plain");

  check(v3.box.size === 0 && v5.box.size === 0, "no MQTT client got anything more");
  await within(v3.client.endAsync(), "end of 3.1.1");
  await within(v5.client.endAsync(), "end of 5.0");
  json.stop();
  log("all checks passed");
  // The SDKs' HTTP agents keep the process alive; nothing is left to do.
  process.exit(0);
}

main().catch((err) => {
  log("FAILED: " + (err && err.stack ? err.stack : err));
  process.exit(1);
});
