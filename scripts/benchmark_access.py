"""Benchmark the email access rules on a large archive (default 100,000 emails).

Run through ``scripts/benchmark --access``. Fills the archive with SQL (the sync's
own speed is measured by the main benchmark), then times, as users of the Own, Team
and All levels, what the list view and its counters do: search_count, read_group
by direction, and the first page of the list (80 rows by date) with its fields; and
the save of a contact that gains an address (retroactive linking of its emails).
"""

import argparse
import statistics
import time

import odoo
from odoo.tools import config


def fill(env, count):
    cr = env.cr
    team_a = env["crm.team"].create({"name": "Bench A"})
    team_b = env["crm.team"].create({"name": "Bench B"})
    users = {}
    for level, group in (
        ("own", "crm_mail_sync.group_crm_mail_user"),
        ("team", "crm_mail_sync.group_crm_mail_team"),
        ("all", "crm_mail_sync.group_crm_mail_all"),
    ):
        users[level] = env["res.users"].create(
            {
                "name": f"Bench {level}",
                "login": f"bench_{level}",
                "email": f"bench.{level}@example.com",
                "groups_id": [(6, 0, [env.ref(group).id])],
            }
        )
    team_a.member_ids = [(4, users["team"].id), (4, users["own"].id)]
    Account = env["crm.mail.account"]
    accounts = Account.create(
        [
            {
                "name": "A",
                "account_type": "group",
                "email": "a@example.com",
                "team_ids": [(6, 0, team_a.ids)],
            },
            {
                "name": "B",
                "account_type": "group",
                "email": "b@example.com",
                "team_ids": [(6, 0, team_b.ids)],
            },
            {
                "name": "own",
                "account_type": "personal",
                "user_id": users["own"].id,
                "email": users["own"].email,
            },
        ]
    )
    env.flush_all()
    cr.execute(
        """INSERT INTO crm_mail_email (message_id, fingerprint, subject, email_from,
                   from_address, recipient_addresses, date, direction, import_mode,
                   body_text, create_uid, write_uid, create_date, write_date)
           SELECT '<bench-' || n || '@example.com>', md5(n::text), 'Subject ' || n,
                  'sender' || (n %% 5000) || '@customer.example',
                  'sender' || (n %% 5000) || '@customer.example',
                  CASE WHEN n %% 100 = 0 THEN %s ELSE 'x@customer.example' END,
                  now() - (n || ' minutes')::interval, 'incoming', 'archive', 'body ' || n,
                  1, 1, now(), now()
             FROM generate_series(1, %s) n""",
        (users["own"].email, count),
    )
    # 45% in A (team of the team user), 45% in B, 10% in the own user's mailbox.
    cr.execute(
        """INSERT INTO crm_mail_email_account_rel (email_id, account_id)
           SELECT id, CASE WHEN id %% 10 = 0 THEN %s WHEN id %% 2 = 0 THEN %s ELSE %s END
             FROM crm_mail_email""",
        (accounts[2].id, accounts[0].id, accounts[1].id),
    )
    folders = env["crm.mail.folder"].create(
        [{"account_id": account.id, "name": "INBOX", "is_synced": True} for account in accounts]
    )
    env.flush_all()
    cr.execute(
        """INSERT INTO crm_mail_email_folder_rel (email_id, folder_id)
           SELECT r.email_id, f.id FROM crm_mail_email_account_rel r
             JOIN crm_mail_folder f ON f.account_id = r.account_id AND f.id IN %s""",
        (tuple(folders.ids),),
    )
    cr.execute(
        """INSERT INTO crm_mail_email_team_rel (email_id, team_id)
           SELECT email_id, CASE WHEN account_id = %s THEN %s ELSE %s END
             FROM crm_mail_email_account_rel WHERE account_id IN %s""",
        (accounts[0].id, team_a.id, team_b.id, (accounts[0].id, accounts[1].id)),
    )
    cr.execute(
        """INSERT INTO crm_mail_email_address_user_rel (email_id, user_id)
           SELECT id, %s FROM crm_mail_email WHERE recipient_addresses = %s""",
        (users["own"].id, users["own"].email),
    )
    cr.execute("ANALYZE")
    env.invalidate_all()
    return users


def timed(function, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--emails", type=int, default=100_000)
    args, odoo_args = parser.parse_known_args()
    config.parse_config(odoo_args + ["-d", args.database])
    registry = odoo.modules.registry.Registry(args.database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        print(f"Filling the archive with {args.emails} emails...", flush=True)
        users = fill(env, args.emails)
        cr.commit()
        print(
            f"{'level':6} {'visible':>8} {'search_count':>13} {'read_group':>11} {'list page':>10}"
        )
        fields = [
            "date",
            "email_from",
            "subject",
            "has_attachments",
            "link_count",
            "account_ids",
            "direction",
        ]
        for level, user in users.items():
            Email = env["crm.mail.email"].with_user(user)
            Email.search_count([])  # warm the caches
            count, t_count = timed(lambda Email=Email: Email.search_count([]))
            _groups, t_group = timed(
                lambda Email=Email: Email.read_group([], ["direction"], ["direction"])
            )
            _page, t_page = timed(
                lambda Email=Email: Email.search_read([], fields, limit=80, order="date desc")
            )
            print(f"{level:6} {count:>8} {t_count:>10.1f} ms {t_group:>8.1f} ms {t_page:>7.1f} ms")
        # The inbox as the web client loads it: first page of the list view (80 rows
        # and the record count) with the inbox's default filter, then with "Unread",
        # and the search panel's folders with their unread counts.
        spec = {
            "is_read": {},
            "is_starred": {},
            "has_attachments": {},
            "is_linked": {},
            "email_from": {},
            "subject": {},
            "snippet": {},
            "date": {},
            "account_names": {},
        }
        not_trashed = [("is_in_my_trash", "=", False)]
        print()
        print(f"{'level':6} {'inbox page':>11} {'unread page':>12} {'folder panel':>13}")
        for level, user in users.items():
            Email = env["crm.mail.email"].with_user(user).with_context(crm_mail_unread_counts=1)
            Email.web_search_read(not_trashed, spec, limit=80, order="date desc")
            _page, t_inbox = timed(
                lambda Email=Email: Email.web_search_read(
                    not_trashed, spec, limit=80, order="date desc"
                )
            )
            _page, t_unread = timed(
                lambda Email=Email: Email.web_search_read(
                    not_trashed + [("is_read", "=", False)], spec, limit=80, order="date desc"
                )
            )
            _panel, t_panel = timed(
                lambda Email=Email: Email.search_panel_select_multi_range(
                    "folder_ids", group_by="account_id", expand=True, search_domain=not_trashed
                )
            )
            print(f"{level:6} {t_inbox:>8.1f} ms {t_unread:>9.1f} ms {t_panel:>10.1f} ms")
        # Saving a contact that gains an address links its past emails (an indexed
        # lookup of that address); saving it again without a new address costs no lookup.
        print()
        print(f"{'contact save':44} {'emails linked at save':>22} {'save':>9}")
        Partner = env["res.partner"]
        for label, address, emails in (
            ("gains an address", "sender{n}@customer.example", 20),
            ("gains a frequent address (scheduled linking)", "x{n}@customer.example", 0),
            ("saved again, same address", None, 0),
        ):
            times = []
            for n in range(1, 6):
                partner = Partner.create({"name": f"Bench contact {n}"})
                if address is None:
                    partner.email = f"sender{n + 10}@customer.example"
                    env.flush_all()
                    vals = {"email": partner.email, "name": f"Bench contact {n} bis"}
                else:
                    vals = {"email": address.format(n=n)}
                    if emails == 0:
                        # A recipient of about 1% of the archive.
                        cr.execute(
                            "UPDATE crm_mail_email SET recipient_addresses = %s "
                            "WHERE id %% 97 = %s",
                            (vals["email"], n),
                        )
                        env.invalidate_all()
                env.flush_all()
                start = time.perf_counter()
                partner.write(vals)
                env.flush_all()
                times.append((time.perf_counter() - start) * 1000)
            linked = env["crm.mail.email.link"].search_count(
                [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
            )
            print(f"{label:44} {linked:>22} {statistics.median(times):>6.1f} ms")
        cr.rollback()


if __name__ == "__main__":
    main()
