"""Start or stop the demo's private Dovecot (IMAP 127.0.0.1:10143, POP3 :10110).

    python3 scripts/demo_mailserver.py start DIR   # seeds demo mail on first start
    python3 scripts/demo_mailserver.py stop DIR

Mailboxes (password "demo"): support (a group mailbox with INBOX and Sent), sales
(read over POP3) and marc (the demo user's personal mailbox).
"""

import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_PORTS = {"imap_port": 10143, "pop3_port": 10110, "imaps_port": 10993, "pop3s_port": 10995}


def _load(name, relative):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relative))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def seed(dovecot, corpus):
    marker = os.path.join(dovecot.workdir, "seeded")
    if os.path.exists(marker):
        return
    for login in ("support", "sales", "marc"):
        dovecot.add_user(login, "demo")
    dovecot.seed("support", corpus.many_messages(400, seed=1, senders=120))
    dovecot.seed("support", corpus.many_messages(60, seed=2, senders=40), folder="Sent")
    dovecot.seed("sales", corpus.many_messages(80, seed=3, senders=50))
    dovecot.seed("marc", corpus.many_messages(120, seed=4, senders=60), seen=True)
    dovecot.seed("marc", corpus.many_messages(20, seed=5, senders=10), folder="Sent", seen=True)
    with open(marker, "w") as handle:
        handle.write("seeded\n")


def main(action, workdir):
    servers = _load("crm_mail_sync_demo_servers", "crm_mail_sync/tests/servers.py")
    corpus = _load("crm_mail_sync_demo_corpus", "crm_mail_sync/tests/mail_corpus.py")
    os.makedirs(workdir, exist_ok=True)
    dovecot = servers.DovecotServer(workdir=workdir, ports=DEMO_PORTS, keep=True)
    if action == "start":
        dovecot.start()
        seed(dovecot, corpus)
    elif action == "stop":
        dovecot.stop()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
