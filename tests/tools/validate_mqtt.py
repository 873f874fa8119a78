#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Validates MQTT messages the gateway published against the JSON Schemas of docs/schemas/.

Usage: validate_mqtt.py SCHEMA_DIR MESSAGES.jsonl
MESSAGES.jsonl: one {"topic": "...", "payload": "..."} per line (payload as received). The
schema is chosen by the topic: .../data/ID, .../hourly/ID and .../daily/ID -> data,
.../class/SITE -> class, .../status -> status, .../events -> event,
.../health -> health, .../reply/NAME -> reply (.../cmd/NAME, requests to the
gateway, are skipped), the edge analytics (docs/analytics.md) .../flow/METER -> flow,
.../flow/METER/night_minimum -> night-minimum, .../alarm/SUBJECT -> alarm,
.../alarm/SUBJECT/state -> alarm-state, .../bins/collect -> collect-list, .../bins/BIN ->
bin-status, and a Home Assistant discovery config
PREFIX/sensor/towngw_.../OBJECT/config (home_assistant.enabled, any discovery prefix) ->
ha-discovery; any other topic is an error (everything we publish has a schema).
Prints a count per schema and every failure (topic, JSON path, reason); exit 1 on any failure.
Uses Debian's python3-jsonschema (run with /usr/bin/python3)."""
import json
import pathlib
import sys

import jsonschema


def schema_for(topic):
    parts = topic.split("/")
    # First: an object id may be "data" or "reply" too. Our node ids start with "towngw_".
    if (len(parts) >= 5 and parts[-1] == "config" and parts[-4] == "sensor"
            and parts[-3].startswith("towngw_")):
        return "ha-discovery"
    # Three-level analytics topics before the two-level ones: an id may be "data" or "state".
    if len(parts) >= 3 and parts[-3] == "flow" and parts[-1] == "night_minimum":
        return "night-minimum"
    if len(parts) >= 3 and parts[-3] == "alarm" and parts[-1] == "state":
        return "alarm-state"
    if len(parts) >= 2 and parts[-2] in ("data", "hourly", "daily"):
        return "data"
    if len(parts) >= 2 and parts[-2] == "class":
        return "class"
    if len(parts) >= 2 and parts[-2] == "reply":
        return "reply"
    if len(parts) >= 2 and parts[-2] == "cmd":
        return "command"  # requests to the gateway: not ours, skipped
    if len(parts) >= 2 and parts[-2] == "flow":
        return "flow"
    if len(parts) >= 2 and parts[-2] == "alarm":
        return "alarm"
    if len(parts) >= 2 and parts[-2] == "bins":
        return "collect-list" if parts[-1] == "collect" else "bin-status"  # "collect": no bin id
    return {"status": "status", "events": "event", "health": "health"}.get(parts[-1])


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 64
    schema_dir = pathlib.Path(sys.argv[1]).resolve()
    names = ("data", "status", "event", "health", "reply", "ha-discovery", "flow",
             "night-minimum", "alarm", "alarm-state", "bin-status", "collect-list", "class")
    loaded = {name: json.loads((schema_dir / f"{name}.schema.json").read_text()) for name in names}
    # References between the schemas resolve through this store, by $id; never over the network.
    store = {schema["$id"]: schema for schema in loaded.values()}

    def refuse(uri):
        raise jsonschema.RefResolutionError(f"{uri}: not one of the schemas in {schema_dir}")

    schemas = {}
    for name, schema in loaded.items():
        jsonschema.Draft7Validator.check_schema(schema)
        resolver = jsonschema.RefResolver(base_uri=schema["$id"], referrer=schema, store=store,
                                          handlers={"http": refuse, "https": refuse})
        schemas[name] = jsonschema.Draft7Validator(schema, resolver=resolver)
    counts = {}
    failures = 0
    for number, line in enumerate(pathlib.Path(sys.argv[2]).read_text().splitlines(), 1):
        if not line.strip():
            continue
        message = json.loads(line)
        topic = message["topic"]
        kind = schema_for(topic)
        if kind == "command":
            continue
        if kind is None:
            print(f"line {number}: {topic}: no schema for this topic")
            failures += 1
            continue
        try:
            payload = json.loads(message["payload"])
        except ValueError as e:
            print(f"line {number}: {topic}: not JSON: {e}")
            failures += 1
            continue
        errors = sorted(schemas[kind].iter_errors(payload), key=lambda e: list(e.path))
        counts[kind] = counts.get(kind, 0) + 1
        for e in errors:
            path = "/" + "/".join(str(p) for p in e.path)
            print(f"line {number}: {topic}: {kind} schema: at {path}: {e.message}")
            failures += 1
    total = sum(counts.values())
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{total} messages checked ({summary}); {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
