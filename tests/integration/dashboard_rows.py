#!/usr/bin/env python3
"""dashboard_rows: compares the ranking table chromium rendered (its
--dump-dom output) with serve's /api/v1/ranking reply: the same rows in the
same order, each code, name, figure as shown to a reader (vi "22,37 %",
en "22.37%") and its data-value. Used by serve_browser.sh.
Usage: dashboard_rows.py PAGE.html RANKING.json vi|en (exit 1 on a mismatch;
the rendered code and name of each row on stderr)."""
import html.parser
import json
import sys


class Rows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'tr' and 'data-unit' in a:
            self.row = {'unit': a['data-unit']}
            self.rows.append(self.row)
        elif tag == 'td' and self.row is not None:
            self.cell = a.get('class', '').replace('num ', '') or 'rank'
            self.row[self.cell] = ''
            self.row[self.cell + '@'] = a.get('data-value')

    def handle_endtag(self, tag):
        if tag == 'tr':
            self.row = None
        elif tag == 'td':
            self.cell = None

    def handle_data(self, data):
        if self.row is not None and self.cell is not None:
            self.row[self.cell] += data


def main():
    page, api, lang = sys.argv[1], sys.argv[2], sys.argv[3]
    p = Rows()
    p.feed(open(page, encoding='utf-8').read())

    def shown(v):
        if v is None:
            return '–'
        t = '%.2f' % v
        return t.replace('.', ',') + ' %' if lang == 'vi' else t + '%'

    want = json.load(open(api, encoding='utf-8'))['rows']
    for r in p.rows:
        print('%s\t%s' % (r['unit'], r.get('name', '')), file=sys.stderr)
    if len(want) != len(p.rows):
        print('rows: %d rendered, %d in the API' % (len(p.rows), len(want)))
        return 1
    bad = 0
    for w, g in zip(want, p.rows):
        exp = {'unit': w['unit'], 'code': w['unit'], 'name': w['name'],
               'result_digitized_rate': shown(w['result_digitized_rate']),
               'intake_digitized_rate': shown(w['intake_digitized_rate']),
               'on_time_rate': shown(w['on_time_rate']), 'online_rate': shown(w['online_rate']),
               'open_overdue': str(w['open_overdue']),
               'result_digitized_rate@': '%.2f' % w['result_digitized_rate']}
        for k, v in exp.items():
            if g.get(k) != v:
                print('%s %s: rendered %r, API %r' % (w['unit'], k, g.get(k), v))
                bad = 1
    return bad


if __name__ == '__main__':
    sys.exit(main())
