#!/usr/bin/python3
"""smtp-sink: a loopback SMTP server that keeps every message it receives as
DIR/NNNN.eml (Debian's python3-aiosmtpd). The demo points notify at it; it is
also a way to try a routes file without a real mail server:
    /usr/bin/python3 smtp-sink.py DIR PORTFILE   (listens on 127.0.0.1, a free port,
                                                  written to PORTFILE)"""
import asyncio
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, d):
        self.d = d
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        path = os.path.join(self.d, "%04d.eml" % self.n)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


async def main(d, portfile):
    os.makedirs(d, exist_ok=True)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink(d)), "127.0.0.1", 0)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % server.sockets[0].getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
