// The live console (served at /console with --console): an app's events as they stream, events/s
// and watchers, and a form to send a test event. It speaks Connect from the browser
// (@connectrpc/connect-web) to the same HubService every client uses, with the key typed in.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { HubService } from "../core/gen/herald/v1/hub_pb.js";
import type { Event } from "../core/gen/herald/v1/event_pb.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id).value.trim();

/** The key typed in, on every call (kept for this tab only). */
const withKey: Interceptor = (next) => (req) => {
  const key = input("key");
  if (key !== "") req.header.set("authorization", `Bearer ${key}`);
  return next(req);
};
const hub = createClient(HubService, createConnectTransport({ baseUrl: location.origin, interceptors: [withKey] }));

/** Events seen per second over the last minute, newest last. */
const perSecond: number[] = Array.from({ length: 60 }, () => 0);
let thisSecond = 0;
let watching: AbortController | undefined;
let lastOffset: bigint | undefined;

function status(text: string, error = false): void {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", error);
}

function show(event: Event): void {
  const li = document.createElement("li");
  li.value = Number(event.offset);
  const what = event.eventId !== "" ? `event ${event.eventId}` : "push";
  const to = event.targets.length === 0 ? "everyone" : event.targets.join(", ");
  li.textContent = `#${event.offset} ${what}${event.type ? ` ${event.type}` : ""} → ${to}: ${event.content?.data ?? ""}`;
  li.dataset["msgId"] = event.msgId;
  const list = $("events");
  list.prepend(li);
  while (list.childElementCount > 500) list.lastElementChild?.remove();
  thisSecond++;
}

/** Follows the app until stopped; resumes after the last offset seen when the stream ends. */
async function watch(appId: string, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      status(`watching ${appId}`);
      const request = lastOffset === undefined ? { appId } : { appId, resumeAfter: lastOffset };
      for await (const res of hub.watchEvents(request, { signal })) {
        if (res.event) {
          lastOffset = res.event.offset;
          show(res.event);
        }
      }
    } catch (err) {
      if (signal.aborted) break;
      const e = ConnectError.from(err);
      status(`${Code[e.code]}: ${e.rawMessage}`, true);
      // A credential or an app that is not there will not appear by retrying.
      if ([Code.Unauthenticated, Code.PermissionDenied, Code.NotFound, Code.InvalidArgument].includes(e.code)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  if (signal.aborted) status("stopped");
}

function drawChart(): void {
  const canvas = $<HTMLCanvasElement>("chart");
  const g = canvas.getContext("2d");
  if (!g) return;
  const max = Math.max(1, ...perSecond);
  const w = canvas.width / perSecond.length;
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = "#3b6fd8";
  perSecond.forEach((n, i) => {
    const h = (n / max) * (canvas.height - 2);
    g.fillRect(i * w, canvas.height - h, Math.max(1, w - 1), h);
  });
}

/** Watchers open on this instance, from /metrics (which needs the same key). */
async function countWatchers(): Promise<void> {
  const key = input("key");
  try {
    const res = await fetch("/metrics", key === "" ? {} : { headers: { authorization: `Bearer ${key}` } });
    if (!res.ok) return;
    const text = await res.text();
    let sum = 0;
    for (const m of text.matchAll(/^herald_watchers\{[^}]*\} (\d+)/gm)) sum += Number(m[1]);
    $("watchers").textContent = String(sum);
  } catch {
    // The next tick tries again.
  }
}

setInterval(() => {
  perSecond.shift();
  perSecond.push(thisSecond);
  $("rate").textContent = String(thisSecond);
  thisSecond = 0;
  drawChart();
  void countWatchers();
}, 1000);

$<HTMLFormElement>("connect").addEventListener("submit", (e) => {
  e.preventDefault();
  watching?.abort();
  lastOffset = undefined;
  $("events").replaceChildren();
  watching = new AbortController();
  $<HTMLButtonElement>("stop").disabled = false;
  void watch(input("app"), watching.signal);
});

$("stop").addEventListener("click", () => {
  watching?.abort();
  $<HTMLButtonElement>("stop").disabled = true;
});

async function send(push: boolean): Promise<void> {
  const sent = $("sent");
  try {
    const content = { mimeType: "text/plain", data: input("text") };
    const reply = push
      ? await hub.sendPush({ appId: input("app"), allActive: true, content })
      : await hub.sendEvent({ appId: input("app"), eventId: input("event-id"), content });
    sent.textContent = `sent: msg ${reply.msgId}, offset ${reply.offset}`;
  } catch (err) {
    const e = ConnectError.from(err);
    sent.textContent = `${Code[e.code]}: ${e.rawMessage}`;
  }
}

$<HTMLFormElement>("send").addEventListener("submit", (e) => {
  e.preventDefault();
  void send(false);
});
$("push").addEventListener("click", () => void send(true));
