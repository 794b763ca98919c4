"""Start or stop the demo's private Dovecot (IMAP 127.0.0.1:10143, POP3 :10110).

    python3 scripts/demo_mailserver.py start DIR   # seeds demo mail on first start
    python3 scripts/demo_mailserver.py stop DIR

Mailboxes (password "demo"): support (a group mailbox with INBOX and Sent), sales
(read over POP3) and marc (the demo user's personal mailbox).
"""

import importlib.util
import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_PORTS = {"imap_port": 10143, "pop3_port": 10110, "imaps_port": 10993, "pop3s_port": 10995}


def _load(name, relative):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relative))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Bumped when the demo mail changes: a mail directory seeded by an older version is
# seeded again from scratch.
SEED_VERSION = "2"


def seed(dovecot, corpus):
    """Seed the demo mailboxes once (``corpus.demo_mailboxes``): each message with its
    received date, so that the corpus is archive mail and a few recent messages are
    live mail."""
    marker = os.path.join(dovecot.workdir, "seeded")
    if os.path.exists(marker):
        with open(marker) as handle:
            if handle.read().strip() == f"seeded {SEED_VERSION}":
                return
    for login in ("support", "sales", "marc"):
        shutil.rmtree(os.path.join(dovecot.workdir, "mail", login), ignore_errors=True)
        dovecot.add_user(login, "demo")
    for login, folder, seen, messages in corpus.demo_mailboxes():
        for raw, received in messages:
            dovecot.seed(login, [raw], folder=folder, seen=seen, internal_date=received)
    with open(marker, "w") as handle:
        handle.write(f"seeded {SEED_VERSION}\n")


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
