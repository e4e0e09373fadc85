#!/usr/bin/python3
"""Loopback servers and readers for the notify tests (tests/integration/notify_*.sh).

  notify_servers.py smtp DIR PORTFILE      a real SMTP server (Debian's python3-aiosmtpd)
                                           storing each message as DIR/NNNN.eml with
                                           DIR/NNNN.json (envelope); while DIR/down exists
                                           it answers 451 (the receiver is down)
  notify_servers.py webhook DIR PORTFILE   an HTTP server storing each POST body as
                                           DIR/NNNN.json (+ .headers); 503 while DIR/down
  notify_servers.py mails DIR              one JSON line per message: envelope, To,
                                           decoded Subject, plain text, has_html
  notify_servers.py hooks DIR              one JSON line per webhook body, after checking
                                           it against Alertmanager's webhook v4 field set
                                           (exit 1 naming the file and the field)
Run with /usr/bin/python3 (Debian's, where python3-aiosmtpd is installed).
"""
import asyncio
import email
import email.header
import email.policy
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def next_name(d, lock=threading.Lock()):
    with lock:
        n = len([f for f in os.listdir(d) if f.endswith(".json") and not f.endswith(".headers.json")]) + 1
        return os.path.join(d, "%04d" % n)


def write_port(portfile, port):
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, portfile)


def smtp(d, portfile):
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if os.path.exists(os.path.join(d, "down")):
                return "451 4.3.0 receiver down for the test"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            if os.path.exists(os.path.join(d, "down")):
                return "451 4.3.0 receiver down for the test"
            base = next_name(d)
            with open(base + ".eml", "wb") as f:
                f.write(envelope.original_content or envelope.content)
            with open(base + ".json.tmp", "w") as f:
                json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
            os.rename(base + ".json.tmp", base + ".json")
            return "250 Message accepted"

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Handler(), enable_SMTPUTF8=True), "127.0.0.1", 0)
        write_port(portfile, server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def webhook(d, portfile):
    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if os.path.exists(os.path.join(d, "down")):
                self.send_response(503)
                self.end_headers()
                self.wfile.write(b"down for the test\n")
                return
            base = next_name(d)
            with open(base + ".headers.json", "w") as f:
                json.dump({k.lower(): v for k, v in self.headers.items()}, f)
            with open(base + ".json.tmp", "wb") as f:
                f.write(body)
            os.rename(base + ".json.tmp", base + ".json")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    write_port(portfile, srv.server_address[1])
    srv.serve_forever()


def mails(d):
    for name in sorted(f for f in os.listdir(d) if f.endswith(".eml")):
        base = os.path.join(d, name[:-4])
        env = json.load(open(base + ".json"))
        raw = open(base + ".eml", "rb").read()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = html = None
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                text = part.get_content()
            elif part.get_content_type() == "text/html":
                html = part.get_content()
        raw_subject = msg.get("Subject", "")
        print(json.dumps({
            "file": name,
            "rcpt_tos": env["rcpt_tos"],
            "mail_from": env["mail_from"],
            "to": str(msg.get("To", "")),
            "subject": str(msg.get("Subject", "")),
            "subject_encoded": "=?UTF-8?B?" in raw.decode("ascii", "replace").split("\r\n\r\n")[0],
            "group": str(msg.get("X-Dossierwatch-Group", "")),
            "multipart": msg.get_content_type(),
            "text": text,
            "has_html": html is not None and "<html>" in html,
        }, ensure_ascii=False))
        del raw_subject


# Alertmanager's webhook payload (version 4)
TOP = {"version": str, "groupKey": str, "truncatedAlerts": int, "status": str, "receiver": str,
       "groupLabels": dict, "commonLabels": dict, "commonAnnotations": dict, "externalURL": str, "alerts": list}
ALERT = {"status": str, "labels": dict, "annotations": dict, "startsAt": str, "endsAt": str,
         "generatorURL": str, "fingerprint": str}
LABELS = {"rule", "severity", "dossier_id", "commune", "agency", "procedure"}


def hooks(d):
    bad = 0
    for name in sorted(f for f in os.listdir(d) if f.endswith(".json") and not f.endswith(".headers.json")):
        path = os.path.join(d, name)
        body = json.load(open(path))
        headers = json.load(open(path[:-5] + ".headers.json"))

        def fail(why):
            nonlocal bad
            print("%s: %s" % (name, why), file=sys.stderr)
            bad = 1

        for k, t in TOP.items():
            if not isinstance(body.get(k), t):
                fail("field %s missing or not %s" % (k, t.__name__))
        if set(body) - set(TOP):
            fail("unexpected fields %s" % sorted(set(body) - set(TOP)))
        if body.get("version") != "4":
            fail("version is not 4")
        if body.get("status") not in ("firing", "resolved"):
            fail("status %r" % body.get("status"))
        for i, a in enumerate(body.get("alerts", [])):
            for k, t in ALERT.items():
                if not isinstance(a.get(k), t):
                    fail("alerts[%d].%s missing or not %s" % (i, k, t.__name__))
            if set(a.get("labels", {})) != LABELS:
                fail("alerts[%d].labels are %s" % (i, sorted(a.get("labels", {}))))
            if set(a.get("annotations", {})) != {"detail", "due_at"}:
                fail("alerts[%d].annotations are %s" % (i, sorted(a.get("annotations", {}))))
            if a.get("status") not in ("firing", "resolved"):
                fail("alerts[%d].status %r" % (i, a.get("status")))
        print(json.dumps({"file": name, "authorization": headers.get("authorization", ""),
                          "status": body.get("status"), "receiver": body.get("receiver"),
                          "groupKey": body.get("groupKey"), "groupLabels": body.get("groupLabels"),
                          "firing": sum(1 for a in body["alerts"] if a["status"] == "firing"),
                          "resolved": sum(1 for a in body["alerts"] if a["status"] == "resolved"),
                          "truncated": body.get("truncatedAlerts"),
                          "dossiers": [a["labels"]["dossier_id"] for a in body["alerts"]]}, ensure_ascii=False))
    sys.exit(bad)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "smtp":
        smtp(sys.argv[2], sys.argv[3])
    elif cmd == "webhook":
        webhook(sys.argv[2], sys.argv[3])
    elif cmd == "mails":
        mails(sys.argv[2])
    elif cmd == "hooks":
        hooks(sys.argv[2])
    else:
        sys.exit("unknown command %s" % cmd)
