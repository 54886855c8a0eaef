import diagnostics from "node:diagnostics_channel";
import type { HeraldMetrics } from "./herald-metrics.js";

interface CommandContext {
  command?: string;
}

/**
 * Times every Redis command of this process through ioredis's `ioredis:command` tracing channel.
 * Off by default (`--metrics-redis-commands`): while anyone listens, ioredis builds a context per
 * command, its arguments turned to strings, which a publish of a large event pays for. Returns
 * the function that stops listening.
 */
export function timeRedisCommands(metrics: HeraldMetrics): () => void {
  const channel = diagnostics.tracingChannel<string, CommandContext & object>("ioredis:command");
  const started = new WeakMap<object, number>();
  const handlers = {
    start(ctx: CommandContext & object) {
      started.set(ctx, performance.now());
    },
    asyncEnd(ctx: CommandContext & object) {
      const t = started.get(ctx);
      if (t !== undefined)
        metrics.redisCommandDuration.observe({ command: (ctx.command ?? "unknown").toLowerCase() }, (performance.now() - t) / 1000);
    },
    error(ctx: CommandContext & object) {
      metrics.redisCommandErrors.inc({ command: (ctx.command ?? "unknown").toLowerCase() });
    },
  };
  channel.subscribe(handlers as never);
  return () => channel.unsubscribe(handlers as never);
}
