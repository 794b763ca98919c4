"""``SmtpSink``: a real SMTP server (aiosmtpd) on loopback collecting what it receives."""

from aiosmtpd.controller import Controller

from .servers import LOOPBACK, Server, free_port


class SmtpSink(Server):
    """An aiosmtpd server on loopback that keeps every message it receives."""

    def __init__(self):
        self.port = free_port()
        self.host = LOOPBACK
        self.messages = []
        self._controller = None

    def start(self):

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append(
                    {
                        "mail_from": envelope.mail_from,
                        "rcpt_tos": list(envelope.rcpt_tos),
                        "raw": envelope.original_content or envelope.content,
                    }
                )
                return "250 Message accepted"

        self._controller = Controller(Handler(), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self):
        if self._controller:
            self._controller.stop()
            self._controller = None
