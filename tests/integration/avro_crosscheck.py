#!/usr/bin/python3
"""Test helper for the codec, run with Debian's /usr/bin/python3 + python3-avro
(not a test itself):

  canonical SCHEMA.avsc  prints python3-avro's Parsing Canonical Form and its
                         CRC-64-AVRO (hex), for tests/unit/test_fingerprint.c
  decode SRC_DIR DUMP    decodes what tests/unit/test_codec.c wrote into DUMP
                         (DW_CODEC_DUMP_DIR) with the schemas of SRC_DIR and
                         compares every field; for avro_python_crosscheck.sh

python3-avro 1.11.1 writes a primitive carrying a logicalType as
{"type":"long"}; the specification's [PRIMITIVES] rule (and the Java
implementation) collapse it to "long", so that form is normalised here."""
import datetime
import io
import json
import re
import struct
import sys

import avro.datafile
import avro.io
import avro.schema

EMPTY = 0xC15D213AA4D7A795


def crc64_avro(data: bytes) -> int:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def canonical(schema) -> str:
    canon = schema.canonical_form
    return re.sub(r'\{"type":"(null|boolean|int|long|float|double|bytes|string)"\}', r'"\1"', canon)


def load(path: str):
    with open(path, encoding="utf-8") as f:
        return avro.schema.parse(f.read())


def cmd_canonical(path: str) -> int:
    canon = canonical(load(path))
    print(canon)
    print("%016x" % crc64_avro(canon.encode("utf-8")))
    return 0


TIME_FIELDS = ("occurred_at", "due_at", "new_due_at", "raised_at", "cleared_at")


def as_ms(v):
    if isinstance(v, datetime.datetime):
        return round(v.timestamp() * 1000)
    return v


def parse_rfc3339_ms(s: str) -> int:
    return round(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def single_object(schema, data: bytes):
    """Checks the C3 01 + fingerprint header, decodes the whole body."""
    if data[:2] != b"\xc3\x01":
        raise ValueError("bad magic %r" % data[:2])
    fp = struct.unpack("<Q", data[2:10])[0]
    want = crc64_avro(canonical(schema).encode("utf-8"))
    if fp != want:
        raise ValueError("fingerprint %016x, schema's is %016x" % (fp, want))
    buf = io.BytesIO(data[10:])
    rec = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(buf))
    if buf.tell() != len(data) - 10:
        raise ValueError("%d trailing bytes" % (len(data) - 10 - buf.tell()))
    return rec


def compare_event(where: str, rec: dict, exp: dict) -> list:
    errs = []
    for k, v in exp.items():
        got = as_ms(rec.get(k))
        want = parse_rfc3339_ms(v) if k in TIME_FIELDS else v
        if got != want:
            errs.append("%s: field %s: got %r want %r" % (where, k, got, want))
    for k, v in rec.items():
        if k not in exp and v is not None:
            errs.append("%s: field %s should be null, got %r" % (where, k, v))
    return errs


def cmd_decode(src: str, dump: str) -> int:
    ev_schema = load(src + "/schemas/dossier_event.avsc")
    with open(dump + "/expected.jsonl", encoding="utf-8") as f:
        expected = [json.loads(line) for line in f if line.strip()]
    errs = []
    with open(dump + "/messages.bin", "rb") as f:
        blob = f.read()
    pos, n = 0, 0
    while pos < len(blob):
        (ln,) = struct.unpack("<I", blob[pos:pos + 4])
        rec = single_object(ev_schema, blob[pos + 4:pos + 4 + ln])
        errs += compare_event("message %d" % n, rec, expected[n])
        pos += 4 + ln
        n += 1
    if n != len(expected):
        errs.append("messages: %d, expected %d" % (n, len(expected)))
    with open(dump + "/events.avro", "rb") as f:
        reader = avro.datafile.DataFileReader(f, avro.io.DatumReader(readers_schema=ev_schema))
        recs = list(reader)
        reader.close()
    if len(recs) != len(expected):
        errs.append("container: %d records, expected %d" % (len(recs), len(expected)))
    for i, (rec, exp) in enumerate(zip(recs, expected)):
        errs += compare_event("container record %d" % i, rec, exp)
    with open(dump + "/alert.bin", "rb") as f:
        a = single_object(load(src + "/schemas/alert.avsc"), f.read())
    want_a = {"alert_id": "H01:OVERDUE:1745888400000", "rule": "OVERDUE", "dossier_id": "H01", "commune": "00004",
              "agency": "UBND-00004", "procedure": "1.001612", "severity": "critical", "raised_at": 1745888400000,
              "due_at": 1745880000000, "cleared_at": None, "detail": "qu\u00e1 h\u1ea1n"}
    for k, v in want_a.items():
        if as_ms(a.get(k)) != v:
            errs.append("alert: field %s: got %r want %r" % (k, a.get(k), v))
    with open(dump + "/aggregate.bin", "rb") as f:
        g = single_object(load(src + "/schemas/compliance_aggregate.avsc"), f.read())
    counters = ["received", "online", "online_full", "intake_digitized", "reused_docs", "dossiers_with_reuse",
                "paper_requests_from_warehouse", "results_issued", "results_digitized", "on_time", "late",
                "apologies", "paid", "paid_online", "ratings", "rating_sum"]
    want_g = {"unit_type": "commune", "unit": "00004", "period_kind": "month", "period": "2025-04",
              "open_overdue": 3, "on_time_rate": 87.5, "intake_digitized_rate": None, "result_digitized_rate": 50.0,
              "online_rate": 12.34, "rating_avg": 4.25, "reuse_rate": 0.0, "paid_online_rate": None,
              "score": 61.5, "score_100": 75.0}
    want_g.update({c: i * 10 + 1 for i, c in enumerate(counters)})
    for k, v in want_g.items():
        if g.get(k) != v:
            errs.append("aggregate: field %s: got %r want %r" % (k, g.get(k), v))
    for e in errs:
        print(e, file=sys.stderr)
    print("python3-avro decoded %d messages, %d container records, 1 alert, 1 aggregate: %s"
          % (n, len(recs), "MISMATCH" if errs else "all fields equal"))
    return 1 if errs else 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "canonical":
        return cmd_canonical(sys.argv[2])
    if len(sys.argv) == 4 and sys.argv[1] == "decode":
        return cmd_decode(sys.argv[2], sys.argv[3])
    print("usage: avro_crosscheck.py canonical SCHEMA.avsc | decode SRC_DIR DUMP_DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
