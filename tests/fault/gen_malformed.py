#!/usr/bin/python3
"""gen_malformed.py: deterministic malformed dossier.events messages for
tests/fault/faults_mixed.sh (a helper, not a test: ctest only runs *.sh).

usage: gen_malformed.py SEED COUNT FIRST_INDEX AVRO_DIR JSONL OUT

Writes COUNT messages to OUT in kcat -P framing: key DWKEY value DWEND ...
(kcat -K DWKEY -D DWEND). Keys are bad-<index>. Kinds, round robin:
random bytes, truncated valid Avro, valid Avro with a wrong magic, valid JSON
event lines (JSON, not Avro), and valid Avro bodies under an unknown writer
schema fingerprint. AVRO_DIR holds valid single-object messages whose first
byte is a selector (tests/fuzz/corpus/avro-*). Nothing written can be a
readable event, and no value contains the delimiters."""
import os
import random
import sys

seed, count, first = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
avro_dir, jsonl, out = sys.argv[4], sys.argv[5], sys.argv[6]
rng = random.Random(seed)
avro = []
for name in sorted(os.listdir(avro_dir)):
    if name.startswith("avro-"):
        with open(os.path.join(avro_dir, name), "rb") as f:
            avro.append(f.read()[1:])
assert avro and all(a[:2] == b"\xc3\x01" and len(a) > 12 for a in avro)
with open(jsonl, "rb") as f:
    lines = [l.rstrip(b"\n") for l in f if l.strip()]
KEY, END = b"DWKEY", b"DWEND"

def random_bytes():
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 120)))

def truncated():
    a = rng.choice(avro)
    return a[: rng.randint(2, len(a) - 1)]

def wrong_magic():
    a = bytearray(rng.choice(avro))
    a[0:2] = rng.choice([b"\xc3\x00", b"\xc3\x02", b"\xc2\x01", b"\x00\x00", b"Ob", b"{\""])
    return bytes(a)

def json_not_avro():
    return rng.choice(lines)

def unknown_fingerprint():
    a = bytearray(rng.choice(avro))
    a[2:10] = bytes(rng.getrandbits(8) for _ in range(8))
    return bytes(a)

kinds = [random_bytes, truncated, wrong_magic, json_not_avro, unknown_fingerprint]
with open(out, "wb") as f:
    for i in range(count):
        while True:
            v = kinds[i % len(kinds)]()
            if KEY not in v and END not in v:
                break
        f.write(b"bad-%06d" % (first + i) + KEY + v + END)
