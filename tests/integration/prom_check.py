#!/usr/bin/env python3
"""prom_check: reads a /metrics reply with Debian's python3-prometheus-client
parser (the exposition-format reference) and checks it: every family named
on the command line exists with the given type and a HELP text, histograms
have cumulative buckets ending in +Inf equal to _count, and prints
`name{labels} value` lines (labels sorted) for the shell test to read.
Usage: prom_check.py METRICS.txt name:type... (exit 1 on a problem)."""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = open(sys.argv[1], encoding='utf-8').read()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    bad = 0
    for spec in sys.argv[2:]:
        name, typ = spec.split(':')
        f = fams.get(name)
        if f is None:
            print('missing family %s' % name, file=sys.stderr)
            bad = 1
            continue
        if f.type != typ:
            print('%s: type %s, want %s' % (name, f.type, typ), file=sys.stderr)
            bad = 1
        if not f.documentation:
            print('%s: no HELP' % name, file=sys.stderr)
            bad = 1
        if typ == 'histogram':
            series = {}
            for s in f.samples:
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != 'le'))
                series.setdefault(key, {'buckets': [], 'count': None})
                if s.name.endswith('_bucket'):
                    series[key]['buckets'].append((float(s.labels['le']), s.value))
                elif s.name.endswith('_count'):
                    series[key]['count'] = s.value
            for key, h in series.items():
                b = h['buckets']
                if not b or b[-1][0] != float('inf') or b[-1][1] != h['count']:
                    print('%s%s: +Inf bucket is not _count' % (name, key), file=sys.stderr)
                    bad = 1
                if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                    print('%s%s: buckets not cumulative' % (name, key), file=sys.stderr)
                    bad = 1
    for f in fams.values():
        for s in f.samples:
            labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))
            print('%s{%s} %s' % (s.name, labels, repr(float(s.value)) if s.value != int(s.value) else int(s.value)))
    return bad


if __name__ == '__main__':
    sys.exit(main())
