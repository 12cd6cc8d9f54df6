/** Usage text of `agora sim cluster` (apart from cli.ts, so the command table loads nothing else). */
export const CLUSTER_USAGE = `  agora sim cluster [--nodes N] [--voters V] [--latency-ms L] [--jitter-ms J] [--loss P] [--config file]
                    [--heartbeat-ms H] [--writes W] [--window-ms T] [--no-partition] [--no-failover]
                    [--form-timeout-ms T] [--phase-timeout-ms T] [--start-concurrency C] [--json] [--out file]
                    [--daemon-json '{...}'] [--daemon-cli dist/src/cli.js] [--daemon-heap-mb M] [--logs dir]
  agora sim cluster --cleanup [--all]
      N daemon processes (default 5, at most 128), each in its own network namespace, joined by veth links
      to bridges in a namespace of the run's own; netem delay L ± J ms and loss P % on every peer's link
      (per-peer overrides: --config's "links"); partitions cut by the kernel. Measures the time to form,
      write-to-visible p50/p99, heartbeats, gossip and wire bytes per peer per second, CPU and RSS per
      peer, partition detection and convergence after the heal, and failover (the Raft leader's process
      SIGKILLed). Needs root and iproute2. Everything it made is removed at the end, on SIGINT/SIGTERM,
      and by the next run or --cleanup when it was SIGKILLed (--all: also runs whose owner is alive).
      --daemon-json: extra keys of every daemon's config; --daemon-cli: another build's daemon;
      --daemon-heap-mb: each daemon's heap limit; --logs: keep every daemon's log there.`
