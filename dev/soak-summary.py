#!/usr/bin/env python3
"""The result of a `wukong-bench soak` in a few lines, and a non-zero exit when an action went
unacknowledged. Growth is reported, not judged here (docs/reliability.md compares it with 5 %)."""
import json
import sys

r = json.load(open(sys.argv[1]))
print(
    f'{r.get("label", "")} soak of {r["minutes"]} min ({r["warmup_minutes"]} warm-up), {r["clients"]} clients: '
    f'{r["actions_sent"]} actions, all acknowledged {r["all_acknowledged"]} ({r["unacknowledged_at_end"]} left), '
    f'{r["client_reconnects"]} reconnects'
)
for key in ("console_rss", "controller_rss", "console_socket_fds", "console_live_connections",
            "console_tasks", "apiserver_watches"):
    g = r[key]
    print(f'  {key}: {g.get("after_warmup")} after warm-up, {g.get("at_end")} at the end '
          f'({g.get("growth_percent", "n/a")} %)')
if r["actions_not_sent"]:
    print(f'  not sent: {r["actions_not_sent"]}')
sys.exit(0 if r["all_acknowledged"] else 1)
