#!/usr/bin/env python3
"""Seed corpora for the fuzz targets from what the repository already holds: every carrier
fixture (prefixed with its catalog index and parser), the default config, API bodies."""
import json
import os
import re
import sys

root = os.path.join(os.path.dirname(__file__), "..")
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "fuzz", "corpus")
catalog = open(os.path.join(root, "carriers", "src", "catalog.rs"), encoding="utf-8").read()
kinds = re.findall(r'^        kind: "([^"]+)",', catalog, re.M)


def write(target, name, data):
    directory = os.path.join(out, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


fixtures = os.path.join(root, "fixtures", "carriers")
for kind in sorted(os.listdir(fixtures)):
    if kind not in kinds:
        continue
    for name in sorted(os.listdir(os.path.join(fixtures, kind))):
        if name.endswith(".expected.json"):
            continue
        body = open(os.path.join(fixtures, kind, name), "rb").read()
        source = 1 if name.startswith("poll-") else 0
        write("carrier_parsers", f"{kind}-{name}", bytes([kinds.index(kind), source]) + body)

# The shipped definitions follow the built-in kinds in the catalog, in file-name order; each
# is seeded with its conformance payloads, and the definition target with each definition and
# its first sample.
definitions = os.path.join(root, "carriers", "definitions")
for index, name in enumerate(sorted(f for f in os.listdir(definitions) if f.endswith(".toml"))):
    text = open(os.path.join(definitions, name), "rb").read()
    samples = re.findall(rb'^samples = \[\s*"([^"]+)"', text, re.M)
    sample = open(os.path.join(definitions, samples[0].decode()), "rb").read() if samples else b""
    write("carrier_definitions", name, text + b"\0" + sample)
    karrio = re.findall(rb'^karrio = \[([^\]]*)\]', text, re.M)
    for carrier in re.findall(rb'"([^"]+)"', karrio[0]) if karrio else []:
        folder = os.path.join(root, "fixtures", "conformance", "karrio", carrier.decode())
        for case in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            for response in ("response.json", "response.xml"):
                path = os.path.join(folder, case, response)
                if os.path.exists(path):
                    prefix = bytes([(len(kinds) + index) % 256, 1])
                    write("carrier_parsers", f"{name}-{case}", prefix + open(path, "rb").read())

write("config_loader", "defaults.toml", open(os.path.join(root, "config.toml"), "rb").read())
write("config_loader", "overlay.toml", b'[queue]\nkind = "rabbitmq"\n[carriers.k2]\nkind = "kuaidi100"\n')
for i, body in enumerate([
    {"carrier": "sandbox", "tracking_number": "SBX1", "order_id": "O-1", "metadata": {"a": [1, "x"]}},
    {"tracking_number": "1Z999AA10123456784", "phone": "+49 30 1234-5678", "carrier_code": "ups"},
    {"shipments": [{"tracking_number": "SF1400123456789"}, {"tracking_number": ""}]},
]):
    write("api_bodies", f"body-{i}.json", json.dumps(body).encode())
write("webhook_signatures", "empty", b"\x00" * 16)
for i, text in enumerate([
    "shp_a:3,shp_b:12",
    "str.eyJvIjoiT1JELTEiLCJleHAiOiIyMDI2LTExLTMwVDEyOjM2OjE5WiJ9.6o4Wq8x9JZDLg68VJ-stjLyNruttfWKmcK1pMOmxDEw",
    '{"type":"subscribe","orders":["ORDER-1"],"cursor":"shp_a:3"}',
    '{"type":"resume","cursor":"shp_a:3"}',
    '{"type":"ping"}',
]):
    write("stream_inputs", f"input-{i}", text.encode())
