#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Renders Home Assistant MQTT templates the way Home Assistant does, with Jinja2.

Usage: render_ha_template.py CASES.jsonl
CASES.jsonl: one {"template": "...", "payload": "..."} per line: a template from a discovery
config (value_template, json_attributes_template, an availability value_template) and an MQTT
payload as received. Like Home Assistant's MQTT integration, the template sees `value` (the
payload text) and `value_json` (the parsed payload), in a sandboxed Jinja2 environment, and
its result is a string. Prints one JSON line per case, in order: {"rendered": "..."} or
{"error": "..."}. Exit 0 unless the input cannot be read.
Uses Debian's python3-jinja2 (run with /usr/bin/python3)."""
import json
import pathlib
import sys

from jinja2.sandbox import ImmutableSandboxedEnvironment


def render(environment, template, payload):
    variables = {"value": payload}
    try:
        variables["value_json"] = json.loads(payload)
    except ValueError:
        pass  # Home Assistant leaves value_json undefined for a payload that is not JSON
    return environment.from_string(template).render(**variables)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 64
    environment = ImmutableSandboxedEnvironment()
    for line in pathlib.Path(sys.argv[1]).read_text().splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        try:
            result = {"rendered": render(environment, case["template"], case["payload"])}
        except Exception as e:  # a template error is a result to report, not a crash
            result = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
